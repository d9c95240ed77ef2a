using System.Globalization;
using System.Text.Json;
using EdgeRnn.Daemon;
using EdgeRnn.Forecasting;

namespace EdgeRnn.Daemon.Tests;

/// <summary>The daemon's pipeline end to end on the bundled model and its data: the payload's intervals hold their coverage.</summary>
public sealed class IntervalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-int-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void Payload_lower_and_upper_cover_the_values_that_arrive_later_at_the_nominal_rate()
    {
        // NAB machine temperature (5-minute samples) through the bundled int8 model with fine-tuning, as the daemon runs it.
        var rows = File.ReadLines(Path.Combine(Harness.Root, "models/data/nab/machine_temperature_system_failure.csv")).Skip(1)
            .Select(l => l.Split(','))
            .Select(p => (Ts: new DateTimeOffset(DateTime.ParseExact(p[0], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal)).ToUnixTimeMilliseconds(),
                          V: float.Parse(p[1], CultureInfo.InvariantCulture)))
            .Take(1600).ToArray();
        using var forecaster = StreamForecaster.Load(Path.Combine(Harness.Root, "models/machine_temperature.safetensors"), Precision.Int8, fineTune: true);
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 64 << 20, TimeSpan.Zero);
        var p = new StreamPipeline(new ResolvedStream("mt", "test", "machine_temperature.safetensors", Precision.Int8, true, null),
            forecaster, outbox, "edgernn/gw/mt/forecast", 0, new ListLogger());
        var truth = rows.ToDictionary(r => r.Ts, r => r.V);
        var m = new DaemonMetrics { Outbox = outbox };
        m.Streams.Add(p.Metrics);
        long inside = 0, scored = 0, withInterval = 0, payloads = 0;
        const int Warmup = 1000; // forecasts made before this row only warm the aggregate up
        for (int i = 0; i < rows.Length; i++)
        {
            p.OnSample("test", rows[i].Ts, [rows[i].V]);
            while (outbox.Peek() is { } msg)
            {
                outbox.Ack(msg);
                using var doc = JsonDocument.Parse(msg.Payload);
                var r = doc.RootElement;
                var values = r.GetProperty("values"); var lower = r.GetProperty("lower"); var upper = r.GetProperty("upper");
                Assert.Equal(values.GetArrayLength(), lower.GetArrayLength());
                Assert.Equal(values.GetArrayLength(), upper.GetArrayLength());
                Assert.False(string.IsNullOrEmpty(r.GetProperty("leading_expert").GetString()));
                payloads++;
                if (r.GetProperty("ts").GetInt64() < rows[Warmup].Ts) continue;
                var hts = r.GetProperty("horizon_ts");
                for (int k = 0; k < values.GetArrayLength(); k++)
                {
                    Assert.Equal(values[k].GetArrayLength(), lower[k].GetArrayLength());
                    if (lower[k][0].ValueKind != JsonValueKind.Number) continue;
                    withInterval++;
                    float lo = lower[k][0].GetSingle(), v = values[k][0].GetSingle(), hi = upper[k][0].GetSingle();
                    Assert.True(lo <= v && v <= hi, $"interval [{lo}, {hi}] around {v}");
                    if (!truth.TryGetValue(hts[k].GetInt64(), out float y)) continue; // beyond the data
                    scored++;
                    if (y >= lo && y <= hi) inside++;
                }
            }
        }
        Assert.True(payloads > 1200, $"payloads {payloads}");
        Assert.True(scored > 500 * 12 * 0.9, $"scored {scored} of {withInterval}");
        double coverage = (double)inside / scored;
        Assert.True(coverage is >= 0.85 and <= 0.95, $"coverage {coverage:F3} over {scored} forecast values");
        Assert.Matches(@"edgernn_interval_coverage\{stream=""mt""\} 0\.(8[5-9]|9[0-5])", m.Render());
    }
}
