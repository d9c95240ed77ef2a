using System.Text.Json;
using EdgeRnn.Daemon;
using EdgeRnn.Forecasting;
using Microsoft.Extensions.Logging;

namespace EdgeRnn.Daemon.Tests;

/// <summary>A deterministic stand-in forecaster: forecast[k] = last finite input + (k + 1); ready from the second sample.</summary>
internal sealed class StepForecaster(int channels = 1, int horizon = 3) : IStreamForecaster
{
    public readonly List<float[]> Inputs = new();
    private float _last;
    public string ModelName => "step";
    public string ModelVersion => "7";
    public Precision Precision => Precision.Int8;
    public IReadOnlyList<string> InputChannels { get; } = Enumerable.Range(0, channels).Select(i => $"c{i}").ToArray();
    public IReadOnlyList<string> Targets { get; } = ["c0"];
    public int Horizon => horizon;
    public TimeSpan? SamplePeriod => TimeSpan.FromSeconds(10);
    public OnlineLearningStats Stats => new(Inputs.Count, 0, 0, 0.5, 0.25);

    public bool Observe(ReadOnlySpan<float> sample, Span<float> forecast)
    {
        Inputs.Add(sample.ToArray());
        if (float.IsFinite(sample[0])) _last = sample[0];
        for (int k = 0; k < Horizon; k++) forecast[k] = _last + k + 1;
        return Inputs.Count >= 2;
    }

    public int CheckpointVersion => 1;
    public void WriteCheckpoint(BinaryWriter w) { w.Write(_last); w.Write(Inputs.Count); }
    public void ReadCheckpoint(BinaryReader r, int version) { _last = r.ReadSingle(); int n = r.ReadInt32(); for (int i = 0; i < n; i++) Inputs.Add([_last]); }
    public void Dispose() { }
}

internal sealed class ListLogger : ILogger
{
    public readonly List<(LogLevel Level, string Message)> Entries = new();
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    { lock (Entries) Entries.Add((logLevel, formatter(state, exception))); }
}

public sealed class PipelineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-pipe-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static ResolvedStream Stream(string name = "s1") => new(name, "test", "step.safetensors", Precision.Int8, true, null);

    [Fact]
    public void Each_forecast_is_one_json_payload_with_seq_ts_horizon_and_values_in_sensor_units()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 1 << 20, TimeSpan.Zero);
        var f = new StepForecaster();
        var p = new StreamPipeline(Stream(), f, outbox, "edgernn/gw/s1/forecast", 600, new ListLogger());
        for (int i = 0; i < 5; i++) p.OnSample("x", 1_000_000 + i * 10_000, [20f + i]);
        Assert.Equal(4, outbox.Depth); // not ready on the first sample
        var msgs = new List<OutboxMessage>();
        while (outbox.Peek() is { } m) { msgs.Add(m); outbox.Ack(m); }
        Assert.Equal(new long[] { 1, 2, 3, 4 }, msgs.Select(m => m.Seq));
        Assert.All(msgs, m => Assert.Equal(("edgernn/gw/s1/forecast", 600u), (m.Topic, m.ExpirySeconds)));
        using var doc = JsonDocument.Parse(msgs[^1].Payload);
        var r = doc.RootElement;
        Assert.Equal(4, r.GetProperty("seq").GetInt64());
        Assert.Equal(1_040_000, r.GetProperty("ts").GetInt64());
        Assert.Equal(new long[] { 1_050_000, 1_060_000, 1_070_000 }, r.GetProperty("horizon_ts").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(new[] { 25f, 26f, 27f }, r.GetProperty("values").EnumerateArray().Select(e => e[0].GetSingle()));
        Assert.Equal(("step", "7", "int8"), (r.GetProperty("model").GetString(), r.GetProperty("version").GetString(), r.GetProperty("precision").GetString()));
        Assert.Equal("c0", r.GetProperty("targets")[0].GetString());
    }

    [Fact]
    public void A_sensor_sending_NaN_is_counted_logged_and_passed_on_as_missing_while_forecasts_continue()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 1 << 20, TimeSpan.Zero);
        var f = new StepForecaster();
        var log = new ListLogger();
        var p = new StreamPipeline(Stream(), f, outbox, "t", 0, log);
        p.OnSample("x", 1000, [1f]);
        p.OnSample("x", 2000, [float.NaN]);
        p.OnSample("x", 3000, [float.PositiveInfinity]);
        p.OnSample("x", 4000, [2f]);
        Assert.Equal(2, p.Metrics.BadValues);
        Assert.True(float.IsNaN(f.Inputs[1][0]) && float.IsNaN(f.Inputs[2][0]), "non-finite values reach the forecaster as NaN (missing)");
        Assert.Equal(3, outbox.Depth);
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("non-finite", StringComparison.Ordinal));
        var last = outbox.Peek();
        while (outbox.Peek() is { } m) { last = m; outbox.Ack(m); }
        using var doc = JsonDocument.Parse(last!.Payload);
        Assert.Equal(3f, doc.RootElement.GetProperty("values")[0][0].GetSingle());
    }

    [Fact]
    public void A_model_that_does_not_fit_the_streams_channels_is_reported_and_its_samples_skipped()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 1 << 20, TimeSpan.Zero);
        var f = new StepForecaster(channels: 2);
        var log = new ListLogger();
        var p = new StreamPipeline(Stream(), f, outbox, "t", 0, log) { SourceChannels = () => ["temp", "hum", "press"] };
        for (int i = 0; i < 5; i++) p.OnSample("x", i * 1000, [1f, 2f, 3f]);
        Assert.Empty(f.Inputs);
        Assert.Equal(0, outbox.Depth);
        var error = Assert.Single(log.Entries, e => e.Level == LogLevel.Error);
        Assert.Contains("expects 2 input channel(s) [c0, c1]", error.Message);
        Assert.Contains("sends 3 [temp, hum, press]", error.Message);
        // channels found by name are reordered to the model's order
        var g = new StepForecaster(channels: 2);
        var q = new StreamPipeline(Stream("s2"), g, outbox, "t", 0, log) { SourceChannels = () => ["C1", "x", "c0"] };
        q.OnSample("x", 0, [10f, 20f, 30f]);
        Assert.Equal(new[] { 30f, 10f }, g.Inputs[0]);
    }

    [Fact]
    public void Seq_continues_after_a_restart_and_checkpoints_round_trip()
    {
        string o = Path.Combine(_dir, "o");
        byte[] ckpt;
        using (var outbox = new Outbox(o, 1 << 20, TimeSpan.Zero))
        {
            var p = new StreamPipeline(Stream(), new StepForecaster(), outbox, "t", 0, new ListLogger());
            for (int i = 0; i < 10; i++) p.OnSample("x", i, [i]);
            ckpt = p.CaptureCheckpoint();
        }
        using (var outbox = new Outbox(o, 1 << 20, TimeSpan.Zero))
        {
            var f = new StepForecaster();
            var p = new StreamPipeline(Stream(), f, outbox, "t", 0, new ListLogger());
            Assert.True(p.RestoreCheckpoint(ckpt, 1));
            Assert.Equal(10, f.Inputs.Count);
            p.OnSample("x", 10, [10f]);
            Assert.Equal(10, outbox.LastSeq("s1")); // 9 before, one more now
        }
    }

    [Fact]
    public void Metrics_render_as_prometheus_text()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 1 << 20, TimeSpan.Zero);
        var p = new StreamPipeline(Stream(), new StepForecaster(), outbox, "t", 0, new ListLogger());
        for (int i = 0; i < 4; i++) p.OnSample("x", i * 10_000, [i]);
        p.OnSample("x", 200_000, [5]); // a gap of 17 periods
        var m = new DaemonMetrics { Outbox = outbox };
        m.Streams.Add(p.Metrics);
        string text = m.Render();
        Assert.Contains("edgernn_forecasts_total{stream=\"s1\"} 4", text);
        Assert.Contains("edgernn_samples_total{stream=\"s1\"} 5", text);
        Assert.Contains("edgernn_gaps_total{stream=\"s1\"} 1", text);
        Assert.Contains("edgernn_finetune_updates_total{stream=\"s1\"} 5", text);
        Assert.Contains("edgernn_finetune_weight{stream=\"s1\"} 0.25", text); // the guard's served weight
        Assert.Contains("edgernn_outbox_depth 4", text);
        Assert.Contains("# TYPE edgernn_outbox_dropped_total counter", text);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.Matches(@"^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [-+0-9.eENaInf]+)$", line);
    }
}
