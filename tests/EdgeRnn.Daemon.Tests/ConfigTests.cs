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
}
