using EdgeRnn.Daemon;
using EdgeRnn.Forecasting;

namespace EdgeRnn.Daemon.Tests;

public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-cfg-").FullName;
    private readonly string _model;
    private static readonly Dictionary<string, string?> NoEnv = new();

    public ConfigTests()
    {
        _model = Path.Combine(_dir, "m.safetensors");
        File.WriteAllBytes(_model, [0]); // Resolve checks existence only; loading is the forecaster's job
    }

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void Json_then_environment_then_flags_with_streams_list()
    {
        string json = Path.Combine(_dir, "edgernn.json");
        File.WriteAllText(json, $$"""
            { "Mqtt": "mqtt://broker.local:1884", "TopicPrefix": "plant", "Gateway": "pi1", "Precision": "float32",
              "Streams": [ { "Name": "boiler", "Source": "serial:/dev/ttyUSB0@115200", "Model": "{{_model}}" },
                           { "Name": "chiller", "Source": "csv:c.csv", "Model": "{{_model}}", "Precision": "int8", "FineTune": "off" } ] }
            """);
        var env = new Dictionary<string, string?> { ["EDGERNN_TOPIC_PREFIX"] = "env-prefix", ["EDGERNN_GATEWAY"] = "env-gw", ["EDGERNN_STREAMS__1__SAMPLE_PERIOD_SECONDS"] = "2.5" };
        var (o, validate) = DaemonConfig.Load(["--config", json, "--gateway", "flag-gw", "--validate"], env);
        var s = DaemonConfig.Resolve(o, env);
        Assert.True(validate);
        Assert.Equal("env-prefix", s.TopicPrefix);
        Assert.Equal("flag-gw", s.Gateway);
        Assert.Equal(("broker.local", 1884, false), (s.Mqtt!.Host, s.Mqtt.Port, s.Mqtt.Tls));
        Assert.Equal(2, s.Streams.Count);
        Assert.Equal((Precision.Float32, true), (s.Streams[0].Precision, s.Streams[0].FineTune));
        Assert.Equal((Precision.Int8, false), (s.Streams[1].Precision, s.Streams[1].FineTune));
        Assert.Equal(TimeSpan.FromSeconds(2.5), s.Streams[1].SamplePeriod);
    }

    [Fact]
    public void Malformed_json_names_the_file()
    {
        string json = Path.Combine(_dir, "bad.json");
        File.WriteAllText(json, "{ \"Mqtt\": \"mqtt://x\", ");
        var e = Assert.Throws<ConfigException>(() => DaemonConfig.Load(["--config", json], NoEnv));
        Assert.Contains("bad.json", e.Message);
    }

    [Fact]
    public void Wrong_types_and_values_name_the_setting()
    {
        var (o, _) = DaemonConfig.Load(["--source", "stdin", "--model", _model, "--precision", "int4", "--fine-tune", "maybe", "--mqtt", "http://x"], NoEnv);
        var e = Assert.Throws<ConfigException>(() => DaemonConfig.Resolve(o, NoEnv));
        Assert.Contains("Precision: 'int4'", e.Message);
        Assert.Contains("FineTune: 'maybe'", e.Message);
        Assert.Contains("Mqtt: 'http://x'", e.Message);
        var e2 = Assert.Throws<ConfigException>(() => DaemonConfig.Resolve(DaemonConfig.Load(["--source", "stdin", "--model", Path.Combine(_dir, "none.safetensors")], NoEnv).Options, NoEnv));
        Assert.Contains("none.safetensors does not exist", e2.Message);
        string json = Path.Combine(_dir, "types.json");
        File.WriteAllText(json, "{ \"OutboxMaxBytes\": \"lots\" }");
        var e3 = Assert.Throws<ConfigException>(() => DaemonConfig.Load(["--config", json], NoEnv));
        Assert.Contains("OutboxMaxBytes", e3.Message);
    }

    [Fact]
    public void Passwords_never_come_from_the_command_line_or_url()
    {
        var e = Assert.Throws<ConfigException>(() => DaemonConfig.Load(["--mqtt-password", "hunter2"], NoEnv));
        Assert.DoesNotContain("hunter2", e.Message);
        var (o, _) = DaemonConfig.Load(["--source", "stdin", "--model", _model, "--mqtt", "mqtt://u:hunter2@host"], NoEnv);
        Assert.Contains("credentials in the URL", Assert.Throws<ConfigException>(() => DaemonConfig.Resolve(o, NoEnv)).Message);
        string pw = Path.Combine(_dir, "pw");
        File.WriteAllText(pw, "s3cret\n");
        var (o2, _) = DaemonConfig.Load(["--source", "stdin", "--model", _model, "--mqtt", "mqtts://host", "--mqtt-username", "gw", "--mqtt-password-file", pw], NoEnv);
        var s = DaemonConfig.Resolve(o2, NoEnv);
        Assert.Equal(("s3cret", 8883, true), (s.Mqtt!.Password, s.Mqtt.Port, s.Mqtt.Tls));
        var env = new Dictionary<string, string?> { ["EDGERNN_MQTT_PASSWORD"] = "fromenv" };
        var (o3, _) = DaemonConfig.Load(["--source", "stdin", "--model", _model, "--mqtt", "mqtt://host", "--mqtt-username", "gw"], env);
        Assert.Equal("fromenv", DaemonConfig.Resolve(o3, env).Mqtt!.Password);
    }

    [Fact]
    public void Unknown_flags_are_rejected()
    {
        var e = Assert.Throws<ConfigException>(() => DaemonConfig.Load(["--sorce", "stdin"], NoEnv));
        Assert.Contains("--sorce", e.Message);
    }

    // issue 15: a typo in a JSON key is an error with the closest key, not silently ignored.
    [Fact]
    public void Unknown_json_keys_are_errors_with_did_you_mean()
    {
        string json = Path.Combine(_dir, "typo.json");
        File.WriteAllText(json, $$"""
            { "Mqqt": "mqtt://localhost", "Source": "stdin", "Model": "{{_model}}",
              "Streams": [ { "Name": "a", "Sorce": "stdin" } ] }
            """);
        var e = Assert.Throws<ConfigException>(() => DaemonConfig.Load(["--config", json], NoEnv));
        Assert.Contains("unknown key \"Mqqt\" (did you mean \"Mqtt\"?)", e.Message);
        Assert.Contains("unknown key \"Streams[0].Sorce\" (did you mean \"Source\"?)", e.Message);
        Assert.Contains("did you mean --source?", Assert.Throws<ConfigException>(() => DaemonConfig.Load(["--sorce", "stdin"], NoEnv)).Message);
    }

    // issue 14: one type for defaults and stream entries; online-learning and conditioning settings reachable from the configuration.
    [Fact]
    public void Stream_entries_merge_over_top_level_defaults_including_online_and_conditioning_sections()
    {
        string json = Path.Combine(_dir, "nested.json");
        File.WriteAllText(json, $$"""
            { "Model": "{{_model}}", "Precision": "float32", "Unit": "°C", "Online": { "Every": 4, "LearningRate": 0.001 },
              "Conditioning": { "GapPolicy": "mark-missing" },
              "Streams": [ { "Name": "a", "Source": "stdin" },
                           { "Name": "b", "Source": "csv:b.csv", "Unit": "K", "Online": { "Every": 2 }, "Conditioning": { "GapPolicy": "hold", "MaxHoldSeconds": 90 } } ] }
            """);
        var env = new Dictionary<string, string?> { ["EDGERNN_ONLINE__BATCH"] = "3" };
        var s = DaemonConfig.Resolve(DaemonConfig.Load(["--config", json], env).Options, env);
        ResolvedStream a = s.Streams[0], b = s.Streams[1];
        Assert.Equal((Precision.Float32, "°C"), (a.Precision, a.Unit));
        Assert.Equal((Precision.Float32, "K"), (b.Precision, b.Unit));
        Assert.Equal((4, 3, 1e-3f), (a.Online.Every, a.Online.Batch, a.Online.LearningRate));
        Assert.Equal((2, 3, 1e-3f), (b.Online.Every, b.Online.Batch, b.Online.LearningRate)); // the entry's key wins, the rest are the defaults
        Assert.Equal(new EdgeRnn.Forecasting.OnlineOptions().Chunk, b.Online.Chunk);        // unset everywhere: the learner's own default
        Assert.Equal(EdgeRnn.Ingest.GapPolicy.MarkMissing, a.Conditioning.GapPolicy);
        Assert.Null(a.Conditioning.MaxHoldMs);
        Assert.Equal((EdgeRnn.Ingest.GapPolicy.Hold, 90_000L), (b.Conditioning.GapPolicy, b.Conditioning.MaxHoldMs));

        File.WriteAllText(json, $$"""
            { "Source": "stdin", "Model": "{{_model}}", "Online": { "Evrey": 4 }, "Streams": [ { "Name": "a", "Conditioning": { "MaxGapSecond": 5 } } ] }
            """);
        var e = Assert.Throws<ConfigException>(() => DaemonConfig.Load(["--config", json], NoEnv));
        Assert.Contains("unknown key \"Online.Evrey\" (did you mean \"Every\"?)", e.Message);
        Assert.Contains("unknown key \"Streams[0].Conditioning.MaxGapSecond\" (did you mean \"MaxGapSeconds\"?)", e.Message);
        File.WriteAllText(json, $$"""
            { "Source": "stdin", "Model": "{{_model}}", "Streams": [ { "Name": "a", "Online": { "Every": 0, "LearningRate": 2 }, "Conditioning": { "GapPolicy": "zero" } } ] }
            """);
        var bad = Assert.Throws<ConfigException>(() => DaemonConfig.Resolve(DaemonConfig.Load(["--config", json], NoEnv).Options, NoEnv)).Message;
        Assert.Contains("Streams[0].Online.Every: 0 is outside 1..", bad);
        Assert.Contains("Streams[0].Online.LearningRate: 2 must be in (0, 1)", bad);
        Assert.Contains("Streams[0].Conditioning.GapPolicy: 'zero' is not hold or mark-missing", bad);
        // a top-level name is the one stream's; beside a Streams list it would be silently meaningless, so it is an error
        File.WriteAllText(json, $$"""
            { "Name": "x", "Source": "stdin", "Model": "{{_model}}", "Streams": [ { "Name": "a" } ] }
            """);
        Assert.Contains("Name: names the one stream", Assert.Throws<ConfigException>(() => DaemonConfig.Resolve(DaemonConfig.Load(["--config", json], NoEnv).Options, NoEnv)).Message);
        File.WriteAllText(json, $$"""
            { "Name": "x", "Source": "stdin", "Model": "{{_model}}" }
            """);
        Assert.Equal("x", Assert.Single(DaemonConfig.Resolve(DaemonConfig.Load(["--config", json], NoEnv).Options, NoEnv).Streams).Name);
    }

    // issue 14: the flags are read off the settings: every scalar key is a flag, and nothing else is.
    [Fact]
    public void Every_scalar_setting_is_a_flag_named_after_its_key()
    {
        Assert.Equal("TopicPrefix", DaemonConfig.FlagKeys["topic-prefix"]);
        Assert.Equal("SourceMqttPasswordFile", DaemonConfig.FlagKeys["source-mqtt-password-file"]);
        Assert.Equal("CsvRateHz", DaemonConfig.FlagKeys["rate"]);
        Assert.Equal("SamplePeriodSeconds", DaemonConfig.FlagKeys["period"]);
        Assert.Equal("Targets", DaemonConfig.FlagKeys["targets"]);
        Assert.False(DaemonConfig.FlagKeys.ContainsKey("streams") || DaemonConfig.FlagKeys.ContainsKey("online") || DaemonConfig.FlagKeys.ContainsKey("name"));
        var (o, _) = DaemonConfig.Load(["--source", "stdin", "--model", _model, "--device-class", "temperature", "--outbox-max-bytes", "65536",
            "--targets", "t", "--features", "t,u", "--drain-timeout-seconds", "3"], NoEnv);
        Assert.Equal(("temperature", 65536L, "t", "t,u", 3.0), (o.DeviceClass, o.OutboxMaxBytes, o.Targets, o.Features, o.DrainTimeoutSeconds));
        var s = DaemonConfig.Resolve(o, NoEnv);
        Assert.Equal(["t", "u"], s.Streams[0].NetworkOnly!.Features!);
    }

    // issue 15: one flag vocabulary: --rate/--csv-rate-hz, --period 5m/--sample-period-seconds, on/off for every switch.
    [Fact]
    public void Old_flag_names_are_aliases_and_switches_take_on_off_or_true_false()
    {
        var (a, _) = DaemonConfig.Load(["--source", "stdin", "--model", _model, "--period", "5m", "--rate", "20", "--discovery", "off", "--fine-tune", "true"], NoEnv);
        var sa = DaemonConfig.Resolve(a, NoEnv);
        var (b, _) = DaemonConfig.Load(["--source", "stdin", "--model", _model, "--sample-period-seconds", "300", "--csv-rate-hz", "20", "--discovery", "false", "--fine-tune", "on"], NoEnv);
        var sb = DaemonConfig.Resolve(b, NoEnv);
        Assert.Equal(TimeSpan.FromMinutes(5), sa.Streams[0].SamplePeriod);
        Assert.Equal(sa.Streams[0], sb.Streams[0]);
        Assert.Equal(20, sa.Streams[0].CsvRateHz);
        Assert.False(sa.Discovery);
        Assert.False(sb.Discovery);
        Assert.True(sa.Streams[0].FineTune);
        Assert.Contains("given twice", Assert.Throws<ConfigException>(() => DaemonConfig.Load(["--rate", "1", "--csv-rate-hz", "2"], NoEnv)).Message);
    }

    // issue 13 row 11: mqtt: sources get the publisher's credentials and TLS, or their own broker and credentials.
    [Fact]
    public void Mqtt_sources_share_the_publisher_credentials_or_have_their_own()
    {
        string pw = Path.Combine(_dir, "pw");
        File.WriteAllText(pw, "s3cret\n");
        var (o, _) = DaemonConfig.Load(["--source", "mqtt:sensors/#", "--model", _model, "--mqtt", "mqtts://broker.lan", "--mqtt-username", "gw", "--mqtt-password-file", pw], NoEnv);
        var s = DaemonConfig.Resolve(o, NoEnv);
        Assert.Same(s.Mqtt, s.SourceMqtt);
        Assert.Equal(("broker.lan", 8883, true, "gw", "s3cret"), (s.SourceMqtt!.Host, s.SourceMqtt.Port, s.SourceMqtt.Tls, s.SourceMqtt.Username, s.SourceMqtt.Password));
        var env = new Dictionary<string, string?> { ["EDGERNN_SOURCE_MQTT_PASSWORD"] = "other" };
        var (o2, _) = DaemonConfig.Load(["--source", "mqtt:sensors/#", "--model", _model, "--mqtt", "mqtt://out.lan", "--source-mqtt", "mqtt://in.lan:1885", "--source-mqtt-username", "reader"], env);
        var s2 = DaemonConfig.Resolve(o2, env);
        Assert.Equal(("in.lan", 1885, "reader", "other"), (s2.SourceMqtt!.Host, s2.SourceMqtt.Port, s2.SourceMqtt.Username, s2.SourceMqtt.Password));
        Assert.Null(s2.Mqtt!.Username);
    }
}
