using System.Globalization;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace EdgeRnn.Daemon.Tests;

/// <summary>
/// Models saved outside edgernn are served unchanged: a file written by the PyTorch training example
/// (tools/pytorch/edgernn_model.py train) and a network-only file named by --targets/--features both pass
/// `edgernn run --validate`, and `edgernn run` publishes through mosquitto exactly the forecasts `edgernn forecast` writes
/// for the same rows (--aggregate: what run serves; fine-tuning off, so both see the same model all along).
/// </summary>
[Collection("processes")]
public sealed class PyTorchServeTests(ITestOutputHelper output)
{
    private static string Etth1 => Path.Combine(Harness.Root, "models", "data", "ett", "ETTh1.csv");

    /// <summary>ETTh1 rows from..from+count with its header: the rows both commands read.</summary>
    private static string Slice(string dir, int from, int count)
    {
        var lines = File.ReadLines(Etth1).ToArray();
        string path = Path.Combine(dir, "input.csv");
        File.WriteAllLines(path, [lines[0], .. lines.Skip(1 + from).Take(count)]);
        return path;
    }

    [Fact]
    public async Task PyTorch_saved_file_passes_validate_and_run_serves_what_forecast_writes()
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-pt-serve-").FullName;
        string model = Path.Combine(dir, "pt_gru.safetensors");
        string python = Environment.GetEnvironmentVariable("EDGERNN_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
        var (code, log) = Harness.RunToEnd(python, [Path.Combine(Harness.Root, "tools", "pytorch", "edgernn_model.py"), "train", "--data", Etth1,
            "--rows", "1200", "--steps", "25", "--arch", "gru", "--hidden", "8", "--skip", "nlinear", "--transform", "diff",
            "--targets", "OT,HUFL", "--features", "OT,HUFL,MUFL", "--horizon", "4", "--lookback", "24", "--period", "3600",
            "--name", "pt_gru", "--out", model], TimeSpan.FromMinutes(3));
        Assert.True(code == 0, "PyTorch training example failed:\n" + log);
        await ServesWhatForecastWrites(dir, model, []);
    }

    [Fact]
    public async Task Network_only_file_is_served_with_targets_and_features_flags()
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-net-serve-").FullName;
        string net = Path.Combine(dir, "net.safetensors");
        var p = new EdgeRnn.Model.ForecasterParameters(new EdgeRnn.Model.ForecasterShape(EdgeRnn.Model.RnnArch.Lstm, 2, 8, 1, 3));
        var rng = new Random(11);
        for (int i = 0; i < p.Arena.Length; i++) p.Arena[i] = (float)(rng.NextDouble() - 0.5) * 0.6f;
        p.InputMean = [17f, 8f]; p.InputStd = [9f, 3f]; p.OutputMean = [17f, 17f, 17f]; p.OutputStd = [9f, 9f, 9f];
        EdgeRnn.Model.ModelFile.Save(p, net);
        string input = Slice(dir, 100, 10);
        // without the flags, --validate names what is missing; with them the file is served
        var (bad, why) = Harness.RunToEnd("dotnet", [Harness.CliDll, "run", "--model", net, "--source", "csv:" + input, "--validate"], TimeSpan.FromMinutes(1));
        Assert.True(bad == 1, why);
        Assert.Contains("--targets", why);
        await ServesWhatForecastWrites(dir, net, ["--targets", "OT", "--features", "OT,HUFL"]);
    }

    private async Task ServesWhatForecastWrites(string dir, string model, string[] describe)
    {
        const int rows = 120;
        string input = Slice(dir, 1300, rows);
        string expected = Path.Combine(dir, "forecast.csv");
        var (fc, fcLog) = Harness.RunToEnd("dotnet", [Harness.CliDll, "forecast", "--model", model, "--input", input, "--output", expected,
            "--precision", "float32", "--aggregate", .. describe], TimeSpan.FromMinutes(1));
        Assert.True(fc == 0, fcLog);
        string[] lines = File.ReadAllLines(expected);
        string[] header = lines[0].Split(',');
        int forecasts = lines.Length - 1;
        Assert.True(forecasts >= 50, $"only {forecasts} forecast rows:\n{fcLog}");

        string[] runArgs = ["run", "--model", model, "--source", "csv:" + input, "--precision", "float32", "--fine-tune", "off", "--condition", "off",
            .. describe];
        var (v, vLog) = Harness.RunToEnd("dotnet", [Harness.CliDll, .. runArgs, "--validate"], TimeSpan.FromMinutes(1));
        output.WriteLine(vLog);
        Assert.True(v == 0, vLog);
        Assert.Contains("configuration OK", vLog);

        using var broker = new Mosquitto(Path.Combine(dir, "mosquitto"));
        await broker.StartAsync();
        var payloads = new List<string>();
        using var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Topic.EndsWith("/forecast", StringComparison.Ordinal))
                lock (payloads) payloads.Add(e.ApplicationMessage.ConvertPayloadToString());
            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithClientId("pt-serve-sub").Build());
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("edgernn/#", MqttQualityOfServiceLevel.AtLeastOnce).Build());

        using var daemon = new Child("edgernn", "dotnet", [Harness.CliDll, .. runArgs, "--mqtt", $"mqtt://127.0.0.1:{broker.Port}", "--gateway", "pt",
            "--stream", "s", "--state-dir", Path.Combine(dir, "state"), "--metrics", "off", "--discovery", "off"]);
        try
        {
            await Harness.WaitUntil(() => { lock (payloads) return payloads.Count >= forecasts || daemon.Process.HasExited; }, TimeSpan.FromSeconds(60), $"{forecasts} forecasts");
            await Task.Delay(500); // nothing beyond the rows read may follow
        }
        finally
        {
            daemon.Stop(Harness.SIGTERM, TimeSpan.FromSeconds(20));
            output.WriteLine(daemon.Log);
        }

        List<string> got;
        lock (payloads) got = payloads.ToList();
        Assert.Equal(forecasts, got.Count);
        int cells = 0;
        for (int i = 0; i < forecasts; i++)
        {
            using var doc = JsonDocument.Parse(got[i]);
            var root = doc.RootElement;
            Assert.Equal(i + 1, root.GetProperty("seq").GetInt64());
            string[] targets = root.GetProperty("targets").EnumerateArray().Select(t => t.GetString()!).ToArray();
            var values = root.GetProperty("values");
            int h = values.GetArrayLength();
            string[] row = lines[1 + i].Split(',');
            // the time column is carried through by forecast; the daemon's ts is the same instant
            Assert.Equal(DateTime.Parse(row[0], CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal),
                DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("ts").GetInt64()).UtcDateTime);
            for (int t = 0; t < targets.Length; t++)
                for (int k = 0; k < h; k++)
                {
                    int col = Array.IndexOf(header, $"{targets[t]}@{k + 1}");
                    Assert.True(col > 0, $"forecast has no column {targets[t]}@{k + 1}");
                    float want = float.Parse(row[col], CultureInfo.InvariantCulture);
                    float served = values[k][t].GetSingle();
                    Assert.True(want == served, $"row {i + 1} {targets[t]}@{k + 1}: forecast wrote {row[col]}, run served {values[k][t].GetRawText()}");
                    cells++;
                }
        }
        output.WriteLine($"{forecasts} forecasts, {cells} values: run served exactly what forecast wrote");
    }
}
