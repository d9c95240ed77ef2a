using System.Globalization;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace EdgeRnn.Daemon.Tests;

/// <summary>
/// Issue 11, end to end: `edgernn run` serves the bundled machine-temperature model (int8, fine-tuning on) to a real mosquitto,
/// and the lower/upper bounds its forecast payloads carry cover the values that arrive later at the nominal 90 %.
/// </summary>
[Collection("processes")]
public sealed class MqttIntervalTests(ITestOutputHelper output)
{
    // The warm start keeps the last 400 history rows; the intervals then settle over the first live rows (Settle), and the
    // coverage is measured on the forecasts made after them.
    private const int History = 400, Live = 1000, Settle = 400;

    [Fact]
    public async Task Forecast_payloads_lower_and_upper_from_mosquitto_cover_the_later_values_at_the_nominal_rate()
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-mqtt-int-").FullName;
        // NAB machine temperature (5-minute samples): a warm start from the first rows (it also warms the aggregate and the
        // intervals up), then the next rows replayed live from a CSV with their own timestamps, 200 rows a second.
        var lines = File.ReadLines(Path.Combine(Harness.Root, "models/data/nab/machine_temperature_system_failure.csv")).ToArray();
        string header = lines[0];
        var rows = lines.Skip(1).Take(History + Live).ToArray();
        string history = Path.Combine(dir, "history.csv"), live = Path.Combine(dir, "live.csv");
        File.WriteAllLines(history, [header, .. rows.Take(History)]);
        File.WriteAllLines(live, [header, .. rows.Skip(History)]);
        long settled = Ms(rows[History + Settle].Split(',')[0]);
        var truth = rows.Skip(History).Select(l => l.Split(',')).ToDictionary(
            c => Ms(c[0]), c => float.Parse(c[1], CultureInfo.InvariantCulture));

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
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithClientId("interval-subscriber").Build());
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("edgernn/iv/#", MqttQualityOfServiceLevel.AtLeastOnce).Build());

        using var daemon = new Child("edgernn", "dotnet", [Harness.CliDll, "run", "--source", $"csv:{live}", "--rate", "200", "--warm-start", history,
            "--model", Path.Combine(Harness.Root, "models/machine_temperature.safetensors"), "--precision", "int8", "--fine-tune", "on",
            "--mqtt", $"mqtt://127.0.0.1:{broker.Port}", "--gateway", "iv", "--stream", "mt", "--state-dir", Path.Combine(dir, "state"),
            "--metrics", "off", "--anomaly", "off", "--discovery", "off"]);
        try
        {
            // the last live row's forecast is the last one published
            await Harness.WaitUntil(() => { lock (payloads) return payloads.Count >= Live - 5 || daemon.Process.HasExited && payloads.Count > 0; },
                TimeSpan.FromSeconds(60), $"{Live} forecasts");
            await Task.Delay(500);
            Assert.True(daemon.Stop(Harness.SIGTERM, TimeSpan.FromSeconds(30)), "edgernn run did not exit on SIGTERM");
        }
        finally { output.WriteLine(daemon.Log); }
        await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build());

        long inside = 0, scored = 0, forecasts = 0;
        double width = 0;
        List<string> got;
        lock (payloads) got = payloads.ToList();
        foreach (string text in got)
        {
            using var doc = JsonDocument.Parse(text);
            var r = doc.RootElement;
            var values = r.GetProperty("values"); var lower = r.GetProperty("lower"); var upper = r.GetProperty("upper"); var hts = r.GetProperty("horizon_ts");
            Assert.Equal(values.GetArrayLength(), lower.GetArrayLength());
            Assert.Equal(values.GetArrayLength(), upper.GetArrayLength());
            if (r.GetProperty("ts").GetInt64() < settled) continue;
            forecasts++;
            for (int k = 0; k < values.GetArrayLength(); k++)
            {
                Assert.Equal(JsonValueKind.Number, lower[k][0].ValueKind); // warmed up: every cell has an interval
                float lo = lower[k][0].GetSingle(), v = values[k][0].GetSingle(), hi = upper[k][0].GetSingle();
                Assert.True(lo <= v && v <= hi, $"interval [{lo}, {hi}] around {v}");
                if (!truth.TryGetValue(hts[k].GetInt64(), out float y)) continue; // beyond the replayed rows
                scored++;
                width += hi - lo;
                if (y >= lo && y <= hi) inside++;
            }
        }
        double coverage = (double)inside / scored;
        output.WriteLine($"{got.Count} forecast payloads from mosquitto, {forecasts} after the first {Settle} live rows, {scored} values scored against later truth: coverage {coverage:F3}, mean width {width / scored:F2} °F");
        Assert.True(forecasts >= 550, $"only {forecasts} forecasts after the first {Settle} live rows arrived");
        Assert.True(scored >= 550 * 12, $"only {scored} forecast values scored");
        Assert.InRange(coverage, 0.85, 0.95);
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }

    private static long Ms(string time) => new DateTimeOffset(DateTime.ParseExact(time, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture,
        DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal)).ToUnixTimeMilliseconds();
}
