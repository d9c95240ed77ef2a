using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using EdgeRnn.Daemon;
using EdgeRnn.Forecasting;
using EdgeRnn.Forecasting.Anomaly;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace EdgeRnn.Daemon.Tests;

/// <summary>issue 17, in the daemon: the anomaly topic, its payload and seq, discovery, the metric and the options.</summary>
public sealed class AnomalyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-anomaly-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static readonly IDictionary<string, string?> NoEnv = new Dictionary<string, string?>();

    /// <summary>A noisy daily-ish wave with one spike at row 300.</summary>
    private static float[] Series(int n)
    {
        var rng = new Random(5);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(20 + 3 * Math.Sin(2 * Math.PI * i / 24) + 0.2 * rng.NextDouble()) + (i == 300 ? 40f : 0f);
        return v;
    }

    [Fact]
    public void Every_sample_gets_an_anomaly_message_with_its_own_seq_and_the_detectors_score()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 4 << 20, TimeSpan.Zero);
        var f = new StepForecaster();
        var p = new StreamPipeline(new ResolvedStream("s1", "test", "step.safetensors", Precision.Int8, true, null), f, outbox, "edgernn/gw/s1/forecast", 600, new ListLogger());
        var settings = new AnomalySettings(0.9, "WarmupRows=100");
        p.Anomaly = StreamAnomaly.Create("s1", "edgernn/gw/s1/anomaly", f.InputChannels, f.Targets, f.SamplePeriod, settings);
        Assert.NotNull(p.Anomaly);
        float[] v = Series(400);
        for (int i = 0; i < v.Length; i++) p.OnSample("x", 1_000_000 + i * 10_000L, [v[i]]);

        // the detector run directly on the same values, with the options the daemon derives (period 10 s: no daily season)
        var reference = new AnomalyDetector(new AnomalyOptions { SeasonRows = 0, WarmupRows = 100 });
        var anomalies = new List<JsonElement>();
        var forecasts = new List<long>();
        while (outbox.Peek() is { } m)
        {
            if (m.Topic == "edgernn/gw/s1/anomaly")
            {
                Assert.Equal("s1/anomaly", m.Stream);
                Assert.Equal(600u, m.ExpirySeconds);
                anomalies.Add(JsonDocument.Parse(m.Payload).RootElement.Clone());
            }
            else forecasts.Add(m.Seq);
            outbox.Ack(m);
        }
        Assert.Equal(v.Length, anomalies.Count); // warm-up included, as detect writes every row
        Assert.Equal(v.Length - 1, forecasts.Count);
        for (int i = 0; i < v.Length; i++)
        {
            var a = anomalies[i];
            double expected = reference.Observe(v[i]);
            Assert.Equal(i + 1, a.GetProperty("seq").GetInt64());
            Assert.Equal(1_000_000 + i * 10_000L, a.GetProperty("ts").GetInt64());
            Assert.Equal("s1", a.GetProperty("stream").GetString());
            Assert.Equal(expected, a.GetProperty("score").GetDouble());
            Assert.Equal(expected >= 0.9, a.GetProperty("anomaly").GetBoolean());
            Assert.Equal(0.9, a.GetProperty("threshold").GetDouble());
            Assert.False(a.TryGetProperty("scores", out _)); // one target: no per-target object
        }
        Assert.All(anomalies.Take(100), a => Assert.Equal(0.0, a.GetProperty("score").GetDouble()));
        Assert.True(anomalies[300].GetProperty("anomaly").GetBoolean(), $"the spike scored {anomalies[300].GetProperty("score").GetDouble()}");
        Assert.Equal(anomalies[^1].GetProperty("score").GetDouble(), p.Metrics.AnomalyScore);
        Assert.Equal(anomalies.Count(a => a.GetProperty("anomaly").GetBoolean()), p.Metrics.AnomalyAlerts);
        Assert.Equal(v.Length, outbox.LastSeq("s1/anomaly"));
    }

    [Fact]
    public void After_a_checkpoint_restore_the_warm_start_history_warms_the_detector_alone()
    {
        float[] v = Series(400); // spike at row 300
        double SpikeScore(bool warm)
        {
            using var outbox = new Outbox(Path.Combine(_dir, warm ? "warm" : "cold"), 4 << 20, TimeSpan.Zero);
            var f = new StepForecaster();
            var p = new StreamPipeline(new ResolvedStream("s1", "test", "step.safetensors", Precision.Int8, true, null), f, outbox, "f", 60, new ListLogger());
            p.Anomaly = StreamAnomaly.Create("s1", "a", f.InputChannels, f.Targets, f.SamplePeriod, new AnomalySettings(0.9, "WarmupRows=100"));
            if (warm)
            {
                Assert.Equal(290, p.Prefill(v.Take(290).Select(x => new Sources.HistoryRow(null, [x])).ToList(), detectorOnly: true));
                Assert.Empty(f.Inputs); // the model (restored from its checkpoint) is not fed the history again
            }
            for (int i = 290; i < 301; i++) p.OnSample("x", 1_000_000 + i * 10_000L, [v[i]]);
            return p.Metrics.AnomalyScore;
        }
        Assert.Equal(0.0, SpikeScore(warm: false)); // a cold detector is still in its warm-up at the spike
        Assert.True(SpikeScore(warm: true) >= 0.9);
    }

    [Fact]
    public void Scoring_and_writing_a_sample_allocates_nothing()
    {
        var an = StreamAnomaly.Create("s", "t", ["a", "b"], ["a", "b"], TimeSpan.FromMinutes(5), new AnomalySettings(0.9, "WarmupRows=50"))!;
        float[] v = Series(3000);
        float[] row = new float[2];
        for (int i = 0; i < 1000; i++) { row[0] = v[i]; row[1] = -v[i]; an.Write(i + 1, i, an.Observe(row)); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 1000; i < 3000; i++) { row[0] = v[i]; row[1] = -v[i]; an.Write(i + 1, i, an.Observe(row)); }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Season_follows_the_sample_period_as_detect_derives_it_and_a_model_without_target_inputs_gets_no_detector()
    {
        Assert.Equal(288, StreamAnomaly.DailySeason(TimeSpan.FromMinutes(5)));
        Assert.Equal(24, StreamAnomaly.DailySeason(TimeSpan.FromHours(1)));
        Assert.Equal(0, StreamAnomaly.DailySeason(TimeSpan.FromSeconds(1))); // 86400 rows a day: beyond detect's 4096
        Assert.Equal(0, StreamAnomaly.DailySeason(null));
        var o = StreamAnomaly.Options(TimeSpan.FromMinutes(5), "WarmupRows=288,SeasonRows=0");
        Assert.Equal((288, 0), (o.WarmupRows, o.SeasonRows));
        Assert.Equal(750, StreamAnomaly.Options(null, null).WarmupRows); // detect's default on a file of 5000 rows or more
        Assert.Null(StreamAnomaly.Create("s", "t", ["a", "b"], ["c"], null, new AnomalySettings(0.9, null)));
        var two = StreamAnomaly.Create("s", "t", ["a", "b"], ["b", "a"], null, new AnomalySettings(0.9, null))!;
        Assert.Equal(new[] { "b", "a" }, two.Targets);
        two.Observe([1f, 2f]);
        two.Write(1, 0, 0);
        using var doc = JsonDocument.Parse(two.Payload.ToArray());
        Assert.Equal(new[] { "b", "a" }, doc.RootElement.GetProperty("scores").EnumerateObject().Select(e => e.Name));
    }

    [Fact]
    public void Validate_checks_the_threshold_range_and_the_detector_settings()
    {
        string model = Path.Combine(_dir, "m.safetensors");
        File.WriteAllText(model, "x");
        DaemonSettings Resolve(params string[] extra) =>
            DaemonConfig.Resolve(DaemonConfig.Load(["--source", "stdin", "--model", model, .. extra], NoEnv).Options, NoEnv);
        var ok = Resolve("--anomaly-threshold", "0.9", "--anomaly-settings", "WarmupRows=100");
        Assert.Equal(new AnomalySettings(0.9, "WarmupRows=100"), ok.Anomaly);
        Assert.Equal(StreamAnomaly.DefaultThreshold, Resolve().Anomaly!.Threshold);
        Assert.Null(Resolve("--anomaly", "off").Anomaly);
        foreach (string bad in new[] { "0", "1.5", "NaN" })
        {
            var e = Assert.Throws<ConfigException>(() => Resolve("--anomaly-threshold", bad));
            Assert.Contains("AnomalyThreshold", e.Message);
            Assert.Contains("(0, 1]", e.Message);
        }
        var s = Assert.Throws<ConfigException>(() => Resolve("--anomaly-settings", "WarmupRow=5"));
        Assert.Contains("AnomalySettings: unknown detector setting 'WarmupRow'", s.Message);
        var m = Assert.Throws<ConfigException>(() => Resolve("--anomaly", "maybe"));
        Assert.Contains("Anomaly: 'maybe' is not on or off", m.Message);
    }

    // HA's MQTT binary_sensor configuration variables (https://www.home-assistant.io/integrations/binary_sensor.mqtt/, 2026).
    private static readonly HashSet<string> BinarySensorKeys =
    [
        "availability", "availability_mode", "availability_template", "availability_topic", "default_entity_id", "device",
        "device_class", "enabled_by_default", "encoding", "entity_category", "entity_picture", "expire_after", "force_update",
        "icon", "json_attributes_template", "json_attributes_topic", "name", "off_delay", "payload_available",
        "payload_not_available", "payload_off", "payload_on", "platform", "qos", "state_topic", "unique_id", "value_template", "origin",
    ];
    private static readonly Regex IdChars = new("^[a-zA-Z0-9_-]+$");

    [Fact]
    public void Discovery_announces_a_problem_binary_sensor_and_a_score_sensor_per_stream()
    {
        var streams = new[]
        {
            new DiscoveryStream("machine temp (°F)", "edgernn/pi.lan/machine temp (°F)/forecast", ["value"], "mt", "1", TimeSpan.FromMinutes(5), "°F", "temperature")
            { AnomalyTopic = "edgernn/pi.lan/machine temp (°F)/anomaly" },
            new DiscoveryStream("boiler", "edgernn/pi.lan/boiler/forecast", ["OT"], "ett", "2"),
        };
        var binary = HaDiscovery.BuildBinary("homeassistant", "pi.lan", "edgernn/pi.lan/status", streams).ToList();
        var (topic, cfg) = Assert.Single(binary);
        using var doc = JsonDocument.Parse(JsonSerializer.SerializeToUtf8Bytes(cfg, DaemonJsonContext.Default.HaBinarySensorConfig));
        var root = doc.RootElement;
        foreach (var p in root.EnumerateObject()) Assert.Contains(p.Name, BinarySensorKeys);
        Assert.False(root.TryGetProperty("object_id", out _));
        Assert.False(root.TryGetProperty("state_class", out _)); // a sensor key, not a binary_sensor one
        Assert.Equal("problem", root.GetProperty("device_class").GetString());
        Assert.Equal("edgernn/pi.lan/machine temp (°F)/anomaly", root.GetProperty("state_topic").GetString());
        Assert.Equal(900, root.GetProperty("expire_after").GetInt32());
        Assert.Equal("{{ 'ON' if value_json.anomaly else 'OFF' }}", root.GetProperty("value_template").GetString());
        Assert.Equal(("ON", "OFF"), (root.GetProperty("payload_on").GetString(), root.GetProperty("payload_off").GetString()));
        string uid = root.GetProperty("unique_id").GetString()!;
        Assert.Equal("edgernn_pi_lan_machine_temp___F__anomaly", uid);
        Assert.Matches(IdChars, uid);
        Assert.Equal("binary_sensor." + uid.ToLowerInvariant(), root.GetProperty("default_entity_id").GetString());
        Assert.Matches(new Regex("^binary_sensor\\.[a-z0-9_]+$"), root.GetProperty("default_entity_id").GetString()!);
        Assert.Equal(["homeassistant", "binary_sensor", uid, "config"], topic.Split('/'));
        Assert.Equal("EdgeRnn", root.GetProperty("origin").GetProperty("name").GetString());
        Assert.All(root.GetProperty("device").GetProperty("identifiers").EnumerateArray(), i => Assert.Matches(IdChars, i.GetString()!));

        var sensors = HaDiscovery.Build("homeassistant", "pi.lan", "edgernn/pi.lan/status", streams).ToList();
        Assert.Equal(1 + 2 + 2, sensors.Count); // the score, then next step and horizon end per target
        var score = Assert.Single(sensors, s => s.Config.StateTopic.EndsWith("/anomaly", StringComparison.Ordinal));
        Assert.Equal(uid + "_score", score.Config.UniqueId);
        Assert.Equal("{{ value_json.score }}", score.Config.ValueTemplate);
        Assert.Null(score.Config.UnitOfMeasurement);
        Assert.Null(score.Config.DeviceClass);
        Assert.Equal(900, score.Config.ExpireAfter);
        Assert.Equal(sensors.Count, sensors.Select(s => s.Config.UniqueId).Distinct().Count());
    }

    [Fact]
    public void Metrics_expose_the_latest_score_per_stream_as_a_gauge()
    {
        var metrics = new DaemonMetrics();
        var a = new StreamMetrics("machine") { AnomalyScore = 0.995, AnomalyAlerts = 3 };
        metrics.Streams.Add(a);
        metrics.Streams.Add(new StreamMetrics("off"));
        string text = metrics.Render();
        var types = MetricsExpositionTests.Parse(text);
        Assert.Equal("gauge", types["edgernn_anomaly_score"]);
        Assert.Equal("counter", types["edgernn_anomaly_alerts_total"]);
        Assert.Contains("edgernn_anomaly_score{stream=\"machine\"} 0.995\n", text);
        Assert.Contains("edgernn_anomaly_score{stream=\"off\"} NaN\n", text);
        Assert.Contains("edgernn_anomaly_alerts_total{stream=\"machine\"} 3\n", text);
    }
}

/// <summary>issue 17 must-show: the daemon's published scores and alerts equal `edgernn detect` on the same data, through mosquitto.</summary>
[Collection("processes")]
public sealed class AnomalyEndToEndTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Scores_and_alerts_published_through_mosquitto_equal_edgernn_detect_on_the_same_rows()
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-anomaly-e2e-").FullName;
        // 5000 rows: detect's default warm-up (15% capped at 750) is then the daemon's (750); they cover NAB's first two windows
        string data = Path.Combine(dir, "machine.csv");
        File.WriteAllLines(data, File.ReadLines(Path.Combine(Harness.Root, "models/data/nab/machine_temperature_system_failure.csv")).Take(5001));
        string detected = Path.Combine(dir, "detect.csv");
        var (code, detectLog) = Harness.RunToEnd("dotnet", [Harness.CliDll, "detect", "--input", data, "--output", detected], TimeSpan.FromMinutes(2));
        Assert.True(code == 0, detectLog);
        var expected = File.ReadLines(detected).Skip(1).Select(l => l.Split(',')).Select(c => (
            Ts: new DateTimeOffset(DateTime.ParseExact(c[0], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal)).ToUnixTimeMilliseconds(),
            Score: double.Parse(c[2], CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(5000, expected.Count);
        const double Threshold = 0.99;

        using var broker = new Mosquitto(Path.Combine(dir, "mosquitto"));
        await broker.StartAsync();
        var got = new Dictionary<long, (long Ts, double Score, bool Alert)>();
        var discovery = new List<string>();
        using var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e =>
        {
            var m = e.ApplicationMessage;
            lock (got)
            {
                if (m.Topic == "edgernn/e2e/machine/anomaly")
                {
                    using var doc = JsonDocument.Parse(m.ConvertPayloadToString());
                    var r = doc.RootElement;
                    got[r.GetProperty("seq").GetInt64()] = (r.GetProperty("ts").GetInt64(), r.GetProperty("score").GetDouble(), r.GetProperty("anomaly").GetBoolean());
                }
                else if (m.Topic.StartsWith("homeassistant/", StringComparison.Ordinal)) discovery.Add(m.Topic + " " + m.ConvertPayloadToString());
            }
            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithClientId("anomaly-e2e").Build());
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("edgernn/e2e/+/anomaly", MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter("homeassistant/#", MqttQualityOfServiceLevel.AtLeastOnce).Build());

        using var daemon = new Child("edgernn", "dotnet", [Harness.CliDll, "run", "--source", $"csv:{data}", "--model", Harness.Model, "--precision", "int8",
            "--fine-tune", "off", "--condition", "off", "--mqtt", $"mqtt://127.0.0.1:{broker.Port}", "--gateway", "e2e", "--stream", "machine",
            "--state-dir", Path.Combine(dir, "state"), "--metrics", "127.0.0.1:0", "--anomaly-threshold", Threshold.ToString(CultureInfo.InvariantCulture)]);
        try
        {
            await Harness.WaitUntil(() => { lock (got) return got.Count >= expected.Count || daemon.Process.HasExited; }, TimeSpan.FromSeconds(90), "5000 anomaly messages");
            Assert.False(daemon.Process.HasExited, daemon.Log);
        }
        catch { output.WriteLine(daemon.Log); throw; }
        Assert.True(daemon.Stop(Harness.SIGTERM, TimeSpan.FromSeconds(30)));
        output.WriteLine(daemon.Log);
        await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build());

        Assert.Equal(Enumerable.Range(1, expected.Count).Select(i => (long)i), got.Keys.Order());
        int alerts = 0, scored = 0;
        for (int i = 0; i < expected.Count; i++)
        {
            var (ts, score, alert) = got[i + 1];
            Assert.Equal(expected[i].Ts, ts);
            Assert.True(expected[i].Score == score, $"row {i}: detect {expected[i].Score:R}, daemon {score:R}");
            Assert.Equal(expected[i].Score >= Threshold, alert);
            if (alert) alerts++;
            if (score > 0) scored++;
        }
        output.WriteLine($"{expected.Count} rows: {scored} scored above 0, {alerts} alerts at >= {Threshold}, all equal to edgernn detect");
        Assert.InRange(alerts, 1, 100);
        Assert.True(scored >= 20, $"only {scored} rows scored above 0"); // scores are sparse: one event, one peak
        Assert.Contains(discovery, d => d.StartsWith("homeassistant/binary_sensor/edgernn_e2e_machine_anomaly/config ", StringComparison.Ordinal) && d.Contains("\"device_class\":\"problem\""));
        Assert.Contains(discovery, d => d.StartsWith("homeassistant/sensor/edgernn_e2e_machine_anomaly_score/config ", StringComparison.Ordinal));
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }
}
