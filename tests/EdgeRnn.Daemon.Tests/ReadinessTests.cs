using EdgeRnn.Forecasting;
using Microsoft.Extensions.Logging;

namespace EdgeRnn.Daemon.Tests;

/// <summary>issue 15: warm start, honest readiness, health windows from the data's own rhythm, a quiet conditioner explained.</summary>
public sealed class ReadinessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-ready-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static string Repo(params string[] parts) => Path.Combine([Harness.Root, .. parts]);

    [Fact]
    public void Warm_start_from_a_history_csv_forecasts_at_the_first_live_sample()
    {
        string model = Repo("models", "machine_temperature.safetensors");
        string csv = Repo("models", "data", "nab", "machine_temperature_system_failure.csv");
        var s = new ResolvedStream("machine", "csv:" + csv, model, Precision.Float32, false, null, WarmStart: csv);
        using var cold = StreamForecaster.Load(model, Precision.Float32, fineTune: false);
        using var outboxCold = new Outbox(Path.Combine(_dir, "cold"), 1 << 20, TimeSpan.Zero);
        var pc = new StreamPipeline(s, cold, outboxCold, "t/cold", 60, new ListLogger());
        pc.OnSample("x", 1_700_000_000_000, [70f]);
        Assert.Equal(0, outboxCold.Depth);
        Assert.Equal($"warming up 1/{pc.WarmupNeeded}", pc.Readiness);
        Assert.True(pc.WarmupNeeded > 100);

        using var warm = StreamForecaster.Load(model, Precision.Float32, fineTune: false);
        using var outbox = new Outbox(Path.Combine(_dir, "warm"), 1 << 20, TimeSpan.Zero);
        var log = new ListLogger();
        var p = new StreamPipeline(s, warm, outbox, "t/warm", 60, log);
        var rows = Sources.ReadHistory(s, warm.InputChannels, p.WarmupNeeded + 64);
        Assert.Equal(p.WarmupNeeded + 64, p.Prefill(rows));
        Assert.Equal("ready", p.Readiness);
        Assert.Equal(0, outbox.Depth); // history is not published
        p.OnSample("x", 1_700_000_000_000, [70f]);
        Assert.Equal(1, outbox.Depth);  // the first live sample already forecasts
    }

    [Fact]
    public void Warm_start_through_the_conditioner_forecasts_at_the_first_live_sample_of_a_conditioned_stream()
    {
        // a Home Assistant export: long format, on-change times a few seconds off the 5-minute grid, an 'unavailable' cell
        string model = Repo("models", "machine_temperature.safetensors");
        string nab = Repo("models", "data", "nab", "machine_temperature_system_failure.csv");
        string csv = Path.Combine(_dir, "history.csv");
        var lines = File.ReadLines(nab).Skip(1).Take(600).ToList();
        var start = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        using (var w = new StreamWriter(csv))
        {
            w.WriteLine("entity_id,value,last_changed"); // the model's input is named value
            for (int i = 0; i < lines.Count; i++)
            {
                var t = start.AddMinutes(5 * i).AddSeconds(i * 7 % 10);
                string v = i == 300 ? "unavailable" : lines[i].Split(',')[1];
                w.WriteLine($"sensor.machine,{v},{t:yyyy-MM-ddTHH:mm:ss}+00:00");
                if (i % 4 == 0) w.WriteLine($"sensor.other,1,{t:yyyy-MM-ddTHH:mm:ss}+00:00");
            }
        }
        long last = start.AddMinutes(5 * (lines.Count - 1)).AddSeconds((lines.Count - 1) * 7 % 10).ToUnixTimeMilliseconds();
        var s = new ResolvedStream("machine", "mqtt:m", model, Precision.Float32, false, TimeSpan.FromMinutes(5), Id: "sensor.machine", WarmStart: csv);
        using var f = StreamForecaster.Load(model, Precision.Float32, fineTune: false);
        using var outbox = new Outbox(Path.Combine(_dir, "warm"), 1 << 20, TimeSpan.Zero);
        var p = new StreamPipeline(s, f, outbox, "t/warm", 60, new ListLogger(), condition: true);
        var rows = Sources.ReadHistory(s, f.InputChannels, p.WarmupNeeded + 64);
        Assert.All(rows, r => Assert.NotNull(r.TimestampMs));
        p.Prefill(rows);
        Assert.Equal("ready", p.Readiness);
        Assert.Equal(0, outbox.Depth); // history is not published
        // the sensor's next value, one period after the export's last row: the grid point in between goes out at once
        p.OnSample("x", last + 5 * 60_000, [70f]);
        Assert.Equal(1, outbox.Depth);
        Assert.Equal(0, p.ConditionerCounters["grid_resets"]);
    }

    [Fact]
    public void Silence_limits_follow_the_sample_period()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 1 << 20, TimeSpan.Zero);
        var every80s = new StreamPipeline(new ResolvedStream("s", "test", "m", Precision.Int8, false, TimeSpan.FromSeconds(80)), new StepForecaster(), outbox, "t", 60, new ListLogger());
        Assert.Equal(240_000, every80s.SilenceMs); // three periods: a sample 66 s ago is not silence
        var hourly = new StreamPipeline(new ResolvedStream("h", "test", "m", Precision.Int8, false, TimeSpan.FromHours(1)), new StepForecaster(), outbox, "t", 60, new ListLogger());
        Assert.Equal(3 * 3_600_000, hourly.SilenceMs);
        var fast = new StreamPipeline(new ResolvedStream("f", "test", "m", Precision.Int8, false, TimeSpan.FromSeconds(1)), new StepForecaster(), outbox, "t", 60, new ListLogger());
        Assert.Equal(60_000, fast.SilenceMs); // never below a minute
    }

    [Fact]
    public void A_20_Hz_sensor_into_a_5_minute_model_is_explained_in_the_log()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 1 << 20, TimeSpan.Zero);
        var log = new ListLogger();
        var p = new StreamPipeline(new ResolvedStream("s", "test", "m", Precision.Int8, false, TimeSpan.FromMinutes(5)), new StepForecaster(), outbox, "t", 60, log, condition: true);
        for (int i = 0; i < 200; i++) p.OnSample("x", 1_700_000_000_000 + i * 50, [20f]);
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("samples arrive about every 50 ms") && e.Message.Contains("one sample per 0:05:00"));
    }
}

/// <summary>issue 15: --validate checks each source against its model's inputs.</summary>
public sealed class SourceCheckTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-check-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void Validate_names_the_missing_column_the_mixed_series_and_the_field_count()
    {
        string csv = Path.Combine(_dir, "h.csv");
        File.WriteAllText(csv, "entity_id,state,last_changed\nsensor.a,1,1700000000\nsensor.b,2,1700000000\n");
        ResolvedStream S(string src, string? id = null, string? field = null) => new("s", src, "m", Precision.Int8, false, null, Id: id, Field: field);
        var missing = Assert.Throws<InvalidDataException>(() => Sources.Check(S("csv:" + csv), ["value"]));
        Assert.Contains("no column 'value'", missing.Message);
        var mixed = Assert.Throws<InvalidDataException>(() => Sources.Check(S("csv:" + csv), ["state"]));
        Assert.Contains("several series", mixed.Message);
        Assert.Contains("sensor.a", Sources.Check(S("csv:" + csv, id: "sensor.a"), ["state"]));
        Assert.Contains("Field: 1 path(s)", Assert.Throws<InvalidDataException>(() => Sources.Check(S("mqtt:x/#", field: "t"), ["a", "b"])).Message);
        Assert.Contains("plain numbers", Sources.Check(S("mqtt:x/#"), ["t"]));
    }
}
