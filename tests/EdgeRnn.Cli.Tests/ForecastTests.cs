using System.Diagnostics;
using System.Globalization;
using EdgeRnn.Cli.Commands;
using Xunit.Abstractions;

namespace EdgeRnn.Cli.Tests;

/// <summary>
/// Trains the PyTorch example models once (tools/pytorch/edgernn_model.py train): LSTM and GRU, with and without the
/// skip path, level and diff inputs, one to two targets with an extra feature, on the first rows of the bundled ETTh1.
/// </summary>
public sealed class PyTorchModels : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("edgernn-pytorch-").FullName;
    public string Input { get; }

    public static readonly (string Name, string[] Args)[] Cases =
    [
        ("lstm_skip_2targets", ["--arch", "lstm", "--skip", "nlinear", "--transform", "diff", "--targets", "OT,HUFL", "--features", "OT,HUFL,MUFL", "--horizon", "6", "--lookback", "48"]),
        ("gru_noskip_level", ["--arch", "gru", "--skip", "none", "--transform", "level", "--targets", "OT", "--features", "OT,HULL", "--horizon", "4"]),
        ("lstm_noskip_2targets", ["--arch", "lstm", "--skip", "none", "--transform", "diff", "--targets", "HUFL,OT", "--horizon", "3"]),
        ("gru_skip_2layers", ["--arch", "gru", "--layers", "2", "--skip", "nlinear", "--transform", "level", "--targets", "OT,LUFL", "--horizon", "5", "--lookback", "24"]),
    ];

    public PyTorchModels()
    {
        // The input every model forecasts: ETTh1's first 400 rows, with gaps.
        var lines = File.ReadLines(Path.Combine(Repo.Root, "models", "data", "ett", "ETTh1.csv")).Take(401).ToArray();
        foreach (int r in new[] { 60, 200, 201 }) { var c = lines[r].Split(','); c[7] = ""; c[1] = ""; lines[r] = string.Join(',', c); }
        Input = Path.Combine(Dir, "input.csv");
        File.WriteAllLines(Input, lines);
        foreach (var (name, args) in Cases)
        {
            var r = ForecastTests.Python(["train", "--data", Path.Combine(Repo.Root, "models", "data", "ett", "ETTh1.csv"), "--rows", "2000",
                "--steps", "60", "--period", "3600", "--name", name, "--out", Path.Combine(Dir, name + ".safetensors"), .. args]);
            if (r.ExitCode != 0) throw new InvalidOperationException($"training {name} failed: {r}");
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

public sealed class ForecastTests(PyTorchModels fx, ITestOutputHelper log) : IClassFixture<PyTorchModels>
{
    public static Repo.ProcessResult Python(IEnumerable<string> args)
    {
        string python = Environment.GetEnvironmentVariable("EDGERNN_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
        return Repo.Run(python, [Path.Combine(Repo.Root, "tools", "pytorch", "edgernn_model.py"), .. args], TimeSpan.FromMinutes(3));
    }

    /// <summary>Runs both forecasts and compares: same header, same rows and timestamps, every value within 1e-5 relative.</summary>
    private void Agree(string model, string input, string tag, params string[] flags)
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-fc-").FullName;
        string ours = Path.Combine(dir, "edgernn.csv"), theirs = Path.Combine(dir, "pytorch.csv");
        Assert.Equal(0, ForecastCommand.Run(["--model", model, "--input", input, "--output", ours, "--precision", "float32", .. flags]));
        var r = Python(["forecast", model, input, theirs, .. flags]);
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] a = File.ReadAllLines(ours), b = File.ReadAllLines(theirs);
        Assert.Equal(a[0], b[0]);
        Assert.Equal(a.Length, b.Length);
        Assert.True(a.Length > 10, $"{tag}: only {a.Length - 1} forecast rows");
        // A value's scale: the larger of its size and the spread of its column over the file (so values near zero are not
        // judged against their own rounding).
        int cols = a[0].Split(',').Length;
        var spread = new double[cols];
        for (int i = 1; i < a.Length; i++)
        {
            var c = a[i].Split(',');
            for (int j = 1; j < cols; j++) spread[j] = Math.Max(spread[j], Math.Abs(double.Parse(c[j], CultureInfo.InvariantCulture)));
        }
        double worst = 0; long identical = 0, total = 0;
        for (int i = 1; i < a.Length; i++)
        {
            string[] x = a[i].Split(','), y = b[i].Split(',');
            Assert.Equal(x[0], y[0]); // the timestamp, carried through
            Assert.Equal(x.Length, y.Length);
            for (int j = 1; j < x.Length; j++)
            {
                double u = double.Parse(x[j], CultureInfo.InvariantCulture), v = double.Parse(y[j], CultureInfo.InvariantCulture);
                worst = Math.Max(worst, Math.Abs(u - v) / Math.Max(Math.Abs(u), 1e-3 * spread[j] + 1e-30));
                total++; if (x[j] == y[j]) identical++;
            }
        }
        log.WriteLine($"{tag}: {a.Length - 1} rows x {cols - 1} columns, worst relative difference {worst:E2}, {identical}/{total} cells written identically");
        Assert.True(worst <= 1e-5, $"{tag}: worst relative difference {worst:E2}");
    }

    [Theory]
    [InlineData("machine_temperature")]
    [InlineData("nyc_taxi")]
    [InlineData("etth1_ot")]
    public void Forecast_agrees_with_pytorch_on_the_bundled_models(string name) =>
        Agree(Path.Combine(Repo.Root, "models", name + ".safetensors"), Path.Combine(Repo.Root, "tests", "fixtures", "v1", name + ".input.csv"), name);

    [Theory]
    [InlineData("lstm_skip_2targets")]
    [InlineData("gru_noskip_level")]
    [InlineData("lstm_noskip_2targets")]
    [InlineData("gru_skip_2layers")]
    public void Forecast_agrees_with_pytorch_on_pytorch_trained_models(string name) =>
        Agree(Path.Combine(fx.Dir, name + ".safetensors"), fx.Input, name);

    [Fact]
    public void Forecast_writes_one_row_per_input_row_once_the_lookback_is_filled()
    {
        string model = Path.Combine(Repo.Root, "models", "machine_temperature.safetensors");
        string input = Path.Combine(Repo.Root, "tests", "fixtures", "v1", "machine_temperature.input.csv");
        string output = Path.Combine(fx.Dir, "mt.csv");
        Assert.Equal(0, ForecastCommand.Run(["--model", model, "--input", input, "--output", output]));
        string[] lines = File.ReadAllLines(output);
        Assert.Equal("timestamp," + string.Join(',', Enumerable.Range(1, 12).Select(k => $"value@{k}")), lines[0]);
        string[] inputLines = File.ReadAllLines(input);
        Assert.Equal(inputLines.Length - 1 - 335, lines.Length - 1);
        Assert.StartsWith(inputLines[336].Split(',')[0] + ",", lines[1]);
        // Real forecasts in sensor units (the series sits around 70-100 °C there), not the network's correction.
        foreach (string cell in lines[1].Split(',').Skip(1)) Assert.InRange(double.Parse(cell, CultureInfo.InvariantCulture), 50, 120);
    }

    [Fact]
    public void Network_only_file_needs_targets_and_forecasts_what_predict_prints()
    {
        string net = Path.Combine(fx.Dir, "net.safetensors");
        var p = new EdgeRnn.Model.ForecasterParameters(new EdgeRnn.Model.ForecasterShape(EdgeRnn.Model.RnnArch.Gru, 2, 8, 1, 2));
        var rng = new Random(5);
        for (int i = 0; i < p.Arena.Length; i++) p.Arena[i] = (float)(rng.NextDouble() - 0.5);
        p.InputMean = [17f, 5f]; p.InputStd = [9f, 2f]; p.OutputMean = [17f, 17f]; p.OutputStd = [9f, 9f];
        EdgeRnn.Model.ModelFile.Save(p, net);
        string output = Path.Combine(fx.Dir, "net.csv");
        var e = Assert.Throws<InvalidDataException>(() => ForecastCommand.Run(["--model", net, "--input", fx.Input, "--output", output]));
        Assert.Contains("--targets", e.Message);
        Assert.Equal(0, ForecastCommand.Run(["--model", net, "--input", fx.Input, "--output", output, "--targets", "OT", "--features", "OT,HUFL"]));
        Assert.Equal("date,OT@1,OT@2", File.ReadLines(output).First());
        Agree(net, fx.Input, "network-only", "--targets", "OT", "--features", "OT,HUFL");
    }

    /// <summary>A file saved by the PyTorch example is served by `run` unchanged: --validate loads it exactly as run does.</summary>
    [Theory]
    [InlineData("lstm_skip_2targets")]
    [InlineData("gru_noskip_level")]
    public void PyTorch_saved_file_passes_run_validate(string name)
    {
        string model = Path.Combine(fx.Dir, name + ".safetensors");
        Assert.Equal(0, RunCommand.Run(["--model", model, "--source", "serial:/dev/ttyUSB0@115200", "--precision", "float32", "--validate"]));
        // and a damaged copy (an absurd horizon in its metadata) is refused by --validate, not at the first forecast
        var (tensors, metadata) = EdgeRnn.Model.SafeTensors.Read(File.ReadAllBytes(model), model);
        metadata["horizon"] = "99999999999";
        string bad = Path.Combine(fx.Dir, name + ".bad.safetensors");
        using (var f = File.Create(bad)) EdgeRnn.Model.SafeTensors.Write(f, tensors, metadata);
        Assert.Equal(1, RunCommand.Run(["--model", bad, "--source", "serial:/dev/ttyUSB0@115200", "--precision", "float32", "--validate"]));
    }
}
