using System.Text.Json;
using EdgeRnn.Daemon;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace EdgeRnn.Daemon.Tests;

/// <summary>A persistent-session QoS 1 subscriber that reconnects on its own, recording (stream, seq) in arrival order.</summary>
public sealed class Subscriber : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _loop;
    private readonly object _gate = new();
    public List<(string Stream, long Seq)> Received { get; } = new();
    /// <summary>Seq of every anomaly message (issue 17), in arrival order.</summary>
    public List<long> AnomalySeqs { get; } = new();
    public List<string> Statuses { get; } = new();
    public List<string> DiscoveryTopics { get; } = new();
    /// <summary>The last discovery payload per topic (retained: the last one sent is what Home Assistant keeps).</summary>
    public Dictionary<string, string> DiscoveryPayloads { get; } = new();
    public string? LastForecast;

    public Subscriber(int port, string filterPrefix)
    {
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var m = e.ApplicationMessage;
            string text = m.ConvertPayloadToString();
            lock (_gate)
            {
                if (m.Topic.EndsWith("/forecast", StringComparison.Ordinal))
                {
                    using var doc = JsonDocument.Parse(text);
                    Received.Add((doc.RootElement.GetProperty("stream").GetString()!, doc.RootElement.GetProperty("seq").GetInt64()));
                    LastForecast = text;
                }
                else if (m.Topic.EndsWith("/anomaly", StringComparison.Ordinal))
                {
                    using var doc = JsonDocument.Parse(text);
                    AnomalySeqs.Add(doc.RootElement.GetProperty("seq").GetInt64());
                }
                else if (m.Topic.EndsWith("/status", StringComparison.Ordinal)) Statuses.Add(text);
                else if (m.Topic.StartsWith("homeassistant/", StringComparison.Ordinal)) { DiscoveryTopics.Add(m.Topic); DiscoveryPayloads[m.Topic] = text; }
            }
            return Task.CompletedTask;
        };
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("e2e-subscriber-" + Guid.NewGuid().ToString("N")[..8])
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).WithCleanStart(false).WithSessionExpiryInterval(3600).Build();
        _loop = Task.Run(async () =>
        {
            bool subscribed = false;
            while (!_cts.IsCancellationRequested)
            {
                try
                {
                    if (!_client.IsConnected)
                    {
                        var r = await _client.ConnectAsync(options, _cts.Token);
                        if (!subscribed || !r.IsSessionPresent)
                        {
                            await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                                .WithTopicFilter($"{filterPrefix}/#", MqttQualityOfServiceLevel.AtLeastOnce)
                                .WithTopicFilter("homeassistant/#", MqttQualityOfServiceLevel.AtLeastOnce).Build(), _cts.Token);
                            subscribed = true;
                        }
                    }
                    await Task.Delay(100, _cts.Token);
                }
                catch (OperationCanceledException) { break; }
                catch (Exception) { try { await Task.Delay(200, _cts.Token); } catch (OperationCanceledException) { break; } }
            }
        });
    }

    public List<(string Stream, long Seq)> Snapshot() { lock (_gate) return Received.ToList(); }
    public List<long> AnomalySnapshot() { lock (_gate) return AnomalySeqs.ToList(); }
    public bool IsConnected => _client.IsConnected;

    public async ValueTask DisposeAsync()
    {
        _cts.Cancel();
        await _loop;
        try { if (_client.IsConnected) await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build()); } catch (Exception) { }
        _client.Dispose();
    }
}

[Collection("processes")]
public sealed class EndToEndTests(ITestOutputHelper output)
{
    private const string E2EPrecision = "int8";

    [Fact]
    public async Task Serial_frames_to_mqtt_survive_broker_restarts_and_a_daemon_SIGKILL_with_no_forecast_lost()
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-e2e-").FullName;
        string model = Harness.Model;
        using var broker = new Mosquitto(Path.Combine(dir, "mosquitto"));
        await broker.StartAsync();
        using var pty = new PtyPair(dir);
        await pty.WaitReadyAsync();
        await using var sub = new Subscriber(broker.Port, "edgernn/e2e");
        await Harness.WaitUntil(() => sub.IsConnected, TimeSpan.FromSeconds(10), "the subscriber to connect");
        string state = Path.Combine(dir, "state");
        string[] runArgs = ["run", "--source", $"serial:{pty.DaemonEnd}@115200", "--model", model, "--precision", E2EPrecision, "--fine-tune", "on",
            "--mqtt", $"mqtt://127.0.0.1:{broker.Port}", "--gateway", "e2e", "--stream", "machine", "--sample-period-seconds", "0.02", "--state-dir", state, "--metrics", "127.0.0.1:0",
            "--checkpoint-interval-seconds", "2", "--drain-timeout-seconds", "15"];
        Child Start() => new("edgernn", "dotnet", [Harness.CliDll, .. runArgs]);

        var daemon = Start();
        var logs = new List<string>();
        await using (var sensor = new SensorWriter(pty.SensorEnd, 50))
        {
            try
            {
                await Harness.WaitUntil(() => sub.Snapshot().Count > 0 || daemon.Process.HasExited, TimeSpan.FromSeconds(30), "the first forecast");
                Assert.False(daemon.Process.HasExited, daemon.Log);
                for (int round = 0; round < 3; round++)
                {
                    await Task.Delay(3000);
                    broker.Stop();
                    await Task.Delay(1500); // forecasts pile up in the outbox meanwhile
                    if (round == 1)
                    {
                        // the daemon dies hard while the broker is down: what it spooled must still arrive
                        Assert.True(daemon.Stop(Harness.SIGKILL, TimeSpan.FromSeconds(10)));
                        logs.Add(daemon.Log);
                        daemon.Dispose();
                        daemon = Start();
                    }
                    await broker.StartAsync();
                }
                await Task.Delay(3000);
            }
            catch { output.WriteLine(daemon.Log); throw; }
        }
        // graceful stop: drains the outbox, checkpoints, says offline
        Assert.True(daemon.Stop(Harness.SIGTERM, TimeSpan.FromSeconds(30)), "edgernn run did not exit on SIGTERM");
        logs.Add(daemon.Log);
        output.WriteLine(string.Join("\n----- restart -----\n", logs));
        Assert.Equal(0, daemon.Process.ExitCode);
        daemon.Dispose();

        long produced, anomalies;
        using (var outbox = new Outbox(Path.Combine(state, "outbox"), 32L << 20, TimeSpan.Zero))
        {
            produced = outbox.LastSeq("machine");
            anomalies = outbox.LastSeq("machine/anomaly");
            Assert.Equal(0, outbox.Depth); // drained on SIGTERM
            Assert.Equal(0, outbox.Dropped);
        }
        await Harness.WaitUntil(() => sub.Snapshot().Any(r => r.Seq == produced), TimeSpan.FromSeconds(10), $"seq {produced} at the subscriber");
        var got = sub.Snapshot();
        output.WriteLine($"produced {produced} forecasts; received {got.Count} messages ({got.Count - got.Select(g => g.Seq).Distinct().Count()} duplicates)");
        Assert.True(produced > 100, $"only {produced} forecasts produced");
        Assert.All(got, g => Assert.Equal("machine", g.Stream));
        // every seq 1..produced arrived at least once, and first arrivals are in order
        var firsts = new List<long>();
        var seen = new HashSet<long>();
        foreach (var (_, seq) in got) if (seen.Add(seq)) firsts.Add(seq);
        Assert.Equal(Enumerable.Range(1, (int)produced).Select(i => (long)i), firsts);
        // issue 17: the anomaly messages ride the same outbox: every seq arrived, first arrivals in order, across the same kills
        await Harness.WaitUntil(() => sub.AnomalySnapshot().Contains(anomalies), TimeSpan.FromSeconds(10), $"anomaly seq {anomalies}");
        var anomalySeqs = sub.AnomalySnapshot().Distinct().ToList();
        Assert.True(anomalies >= produced, $"{anomalies} anomaly messages for {produced} forecasts"); // one per sample, warm-up included
        Assert.Equal(Enumerable.Range(1, (int)anomalies).Select(i => (long)i), anomalySeqs);
        // the broker was told online, and offline at the end
        Assert.Contains("online", sub.Statuses);
        Assert.Equal("offline", sub.Statuses[^1]);
        Assert.Contains(sub.DiscoveryTopics, t => t.StartsWith("homeassistant/sensor/edgernn_e2e_machine_value", StringComparison.Ordinal));
        // issue 15: no --unit given; the sensor's hello frame says "degF", so discovery (re-sent once the hello arrived) says °F
        using (var next = JsonDocument.Parse(sub.DiscoveryPayloads["homeassistant/sensor/edgernn_e2e_machine_value_next/config"]))
        {
            Assert.Equal("°F", next.RootElement.GetProperty("unit_of_measurement").GetString());
            Assert.Equal("temperature", next.RootElement.GetProperty("device_class").GetString());
        }
        using var last = JsonDocument.Parse(sub.LastForecast!);
        var root = last.RootElement;
        Assert.Equal(6, root.GetProperty("values").GetArrayLength());
        Assert.Equal(6, root.GetProperty("horizon_ts").GetArrayLength());
        Assert.Equal(E2EPrecision, root.GetProperty("precision").GetString());
        Assert.Equal("machine_temp_e2e", root.GetProperty("model").GetString());
        float v = root.GetProperty("values")[0][0].GetSingle();
        Assert.InRange(v, 0f, 200f); // sensor units (degrees F), not normalized
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }
}

[CollectionDefinition("processes", DisableParallelization = true)]
public sealed class ProcessCollection;
