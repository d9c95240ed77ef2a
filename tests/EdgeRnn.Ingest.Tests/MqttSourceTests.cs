using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MQTTnet;

namespace EdgeRnn.Ingest.Tests;

public class MqttSourceTests
{
    private sealed class Rows : ISampleSink
    {
        public readonly ConcurrentQueue<(string Stream, long Ts, float[] V)> Got = new();
        public void OnSample(string stream, long timestampMs, ReadOnlySpan<float> values) => Got.Enqueue((stream, timestampMs, values.ToArray()));
    }

    private static void Wait(Func<bool> c, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!c()) { if (sw.Elapsed > TimeSpan.FromSeconds(10)) throw new TimeoutException(what); Thread.Sleep(10); }
    }

    [Fact]
    public void Json_payloads_map_named_fields_to_channels()
    {
        var src = new MqttSource("s/#", new MqttSourceOptions("unused") { Fields = ["temp", "hum"] });
        var rows = new Rows();
        void Send(string json) => src.Handle("s/a", new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)), rows);
        Send("""{"hum": 40, "temp": 21.5, "ts": 1700000000}""");
        Send("""{"temp": 22, "ts": "2023-11-14T22:13:20.5Z", "extra": {"nested": [1,2]}}""");
        Send("""{"temp": null, "hum": 1, "ts": 1700000000123}""");
        Send("""not json""");
        Send("""[1,2]""");
        Send("""{"other": 5}""");
        var got = rows.Got.ToArray();
        Assert.Equal(3, got.Length);
        Assert.Equal(new[] { 21.5f, 40f }, got[0].V);
        Assert.Equal(1_700_000_000_000, got[0].Ts);
        Assert.Equal(22f, got[1].V[0]);
        Assert.True(float.IsNaN(got[1].V[1]));
        Assert.Equal(1_700_000_000_500, got[1].Ts);
        Assert.True(float.IsNaN(got[2].V[0]));
        Assert.Equal(1_700_000_000_123, got[2].Ts);
        Assert.Equal(3, src.Counters["bad_payloads"]);
    }

    [Fact]
    public async Task Subscribes_through_a_real_mosquitto_with_a_wildcard_one_stream_per_topic()
    {
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; l.Stop(); }
        using var broker = Process.Start(new ProcessStartInfo("mosquitto", $"-p {port}") { RedirectStandardError = true, RedirectStandardOutput = true })!;
        try
        {
            var src = new MqttSource("plant/+/sensors", new MqttSourceOptions("127.0.0.1", port));
            var rows = new Rows();
            using var cts = new CancellationTokenSource();
            Task run = src.RunAsync(rows, cts.Token);
            Wait(() => src.Subscribed, "subscription");

            using var pub = new MqttClientFactory().CreateMqttClient();
            await pub.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).Build());
            for (int i = 0; i < 20; i++)
            {
                string topic = i % 2 == 0 ? "plant/a/sensors" : "plant/b/sensors";
                await pub.PublishStringAsync(topic, $$"""{"ts": {{1_700_000_000_000 + i}}, "flow": {{i}}, "pressure": {{i * 10}}}""");
            }
            await pub.PublishStringAsync("plant/a/other", """{"flow": 99}""");  // not matched by the filter
            Wait(() => rows.Got.Count >= 20, "20 samples");
            await Task.Delay(200);
            cts.Cancel();
            await run.WaitAsync(TimeSpan.FromSeconds(5));

            Assert.Equal(20, rows.Got.Count);
            Assert.Equal(["flow", "pressure"], src.Channels);
            var a = rows.Got.Where(r => r.Stream == "plant/a/sensors").ToArray();
            var b = rows.Got.Where(r => r.Stream == "plant/b/sensors").ToArray();
            Assert.Equal(Enumerable.Range(0, 10).Select(i => (float)(2 * i)), a.Select(r => r.V[0]));
            Assert.Equal(Enumerable.Range(0, 10).Select(i => (float)(2 * i + 1) * 10), b.Select(r => r.V[1]));
            Assert.Equal(1_700_000_000_001, b[0].Ts);
        }
        finally
        {
            broker.Kill();
            broker.WaitForExit();
        }
    }
}
