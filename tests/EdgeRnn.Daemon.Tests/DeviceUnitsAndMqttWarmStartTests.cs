using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeRnn.Daemon;
using EdgeRnn.Forecasting;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace EdgeRnn.Daemon.Tests;

/// <summary>issue 15: discovery's unit and device class from the device's hello frame when the configuration sets none.</summary>
public sealed class DeviceUnitsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-units-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private StreamPipeline Pipeline(string? unit = null, string? deviceClass = null)
    {
        var outbox = new Outbox(Path.Combine(_dir, Guid.NewGuid().ToString("N")), 1 << 20, TimeSpan.Zero);
        var s = new ResolvedStream("machine", "serial:/dev/null@115200", "m.safetensors", Precision.Int8, false, TimeSpan.FromMinutes(5), Unit: unit, DeviceClass: deviceClass);
        return new StreamPipeline(s, new StepForecaster(channels: 2), outbox, "edgernn/gw/machine/forecast", 60, new ListLogger());
    }

    [Fact]
    public void Units_announced_in_the_hello_frame_reach_discovery_in_home_assistants_spelling_unless_configured()
    {
        var p = Pipeline();
        int changed = 0;
        p.UnitsChanged = () => changed++;
        // the device announces its channels in another order than the model's inputs (c0, c1): the target c0 is its second
        p.SourceChannels = () => ["c1", "c0"];
        p.SourceUnits = () => ["%RH", "degF"];
        Assert.Null(p.Discovery("t").TargetUnits); // before the hello: nothing announced
        p.OnSample("x", 1_700_000_000_000, [40f, 70f]);
        p.OnSample("x", 1_700_000_300_000, [41f, 71f]);
        Assert.Equal(new[] { "degF" }, p.DeviceUnits);
        Assert.Equal(1, changed); // once: the same units again change nothing
        var msgs = HaDiscovery.Build("homeassistant", "gw", "edgernn/gw/status", [p.Discovery("edgernn/gw/machine/forecast")]).ToList();
        Assert.Equal(2, msgs.Count);
        Assert.All(msgs, m => Assert.Equal(("°F", "temperature"), (m.Config.UnitOfMeasurement, m.Config.DeviceClass)));

        // configuration wins over the device
        var q = Pipeline(unit: "K", deviceClass: "temperature");
        q.SourceChannels = () => ["c0", "c1"];
        q.SourceUnits = () => ["degC", "%RH"];
        q.OnSample("x", 1_700_000_000_000, [20f, 40f]);
        Assert.Equal(new[] { "degC" }, q.DeviceUnits);
        Assert.All(HaDiscovery.Build("homeassistant", "gw", "s", [q.Discovery("f")]), m => Assert.Equal(("K", "temperature"), (m.Config.UnitOfMeasurement, m.Config.DeviceClass)));
    }

    [Fact]
    public void Device_unit_spellings_map_to_home_assistant_units_and_only_unambiguous_device_classes()
    {
        Assert.Equal(("°C", "temperature"), HaDiscovery.Unit("degC"));
        Assert.Equal(("°F", "temperature"), HaDiscovery.Unit(" F "));
        Assert.Equal(("%", "humidity"), HaDiscovery.Unit("%RH"));
        Assert.Equal(("hPa", "pressure"), HaDiscovery.Unit("hPa"));
        Assert.Equal(("%", (string?)null), HaDiscovery.Unit("%")); // battery? humidity? moisture? HA rejects a wrong class
        Assert.Equal(("ppm", (string?)null), HaDiscovery.Unit("ppm"));
        Assert.Equal(((string?)null, (string?)null), HaDiscovery.Unit(""));
    }
}

/// <summary>issue 15: warm start from an MQTT retained history topic, through a real mosquitto.</summary>
[Collection("processes")]
public sealed class MqttWarmStartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Warm_start_from_a_retained_history_topic_forecasts_at_the_first_live_sample()
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-mqtt-warm-").FullName;
        using var broker = new Mosquitto(Path.Combine(dir, "mosquitto"));
        await broker.StartAsync();
        // 200 rows of history (the model's look-back is 24) as one retained [[ts, value], ...] payload, epoch seconds
        var rows = File.ReadLines(Path.Combine(Harness.Root, "models/data/nab/machine_temperature_system_failure.csv")).Skip(1).Take(201)
            .Select(l => l.Split(',')).Select(c => (Ts: new DateTimeOffset(DateTime.ParseExact(c[0], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal)).ToUnixTimeSeconds(), V: c[1])).ToList();
        string history = "[" + string.Join(",", rows.Take(200).Select(r => $"[{r.Ts},{r.V}]")) + "]";
        var live = rows[200];
        using (var pub = new MqttClientFactory().CreateMqttClient())
        {
            await pub.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithClientId("history-writer").Build());
            await pub.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("history/machine").WithPayload(history).WithRetainFlag(true)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            // the first live sample, retained so the source gets it as soon as it subscribes
            await pub.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("sensors/machine").WithPayload($"{{\"ts\": {live.Ts}, \"value\": {live.V}}}").WithRetainFlag(true)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            await pub.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build());
        }
        await using var sub = new Subscriber(broker.Port, "edgernn/warm");
        await Harness.WaitUntil(() => sub.IsConnected, TimeSpan.FromSeconds(10), "the subscriber to connect");

        string model = Harness.Model; // trained (once per test run) before the clock starts
        var clock = Stopwatch.StartNew();
        using var daemon = new Child("edgernn", "dotnet", [Harness.CliDll, "run", "--source", "mqtt:sensors/machine", "--warm-start", "mqtt:history/machine",
            "--model", model, "--precision", "int8", "--fine-tune", "off", "--mqtt", $"mqtt://127.0.0.1:{broker.Port}", "--gateway", "warm",
            "--stream", "machine", "--state-dir", Path.Combine(dir, "state"), "--metrics", "127.0.0.1:0"]);
        try
        {
            await Harness.WaitUntil(() => sub.Snapshot().Count > 0 || daemon.Process.HasExited, TimeSpan.FromSeconds(60), "the first forecast");
            Assert.False(daemon.Process.HasExited, daemon.Log);
        }
        catch { output.WriteLine(daemon.Log); throw; }
        double seconds = clock.Elapsed.TotalSeconds;
        Assert.True(daemon.Stop(Harness.SIGTERM, TimeSpan.FromSeconds(30)));
        string log = daemon.Log;
        output.WriteLine(log);
        output.WriteLine($"first forecast {seconds:F1} s after `edgernn run` was started (process start and JIT included)");
        Assert.Equal(("machine", 1L), sub.Snapshot()[0]);
        using var doc = JsonDocument.Parse(sub.LastForecast!);
        Assert.Equal(live.Ts * 1000, doc.RootElement.GetProperty("ts").GetInt64()); // the one live sample forecasts
        Assert.Single(sub.Snapshot());
        Assert.Contains("warm start from mqtt:history/machine: 200 history rows, ready", log);
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }
}
