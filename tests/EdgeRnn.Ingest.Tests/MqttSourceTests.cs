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

    // issue 15: a history payload (what `run --warm-start mqtt:TOPIC` reads): rows [ts, v1..vn], each one sample.
    [Fact]
    public void A_json_array_of_ts_value_rows_is_one_sample_per_row_and_a_bad_row_stops_it_with_the_reason()
    {
        var log = new List<string>();
        var rows = new Rows();
        var two = new MqttSource("h/#", new MqttSourceOptions("unused") { Fields = ["temp", "hum"], Log = log.Add });
        void Send(MqttSource src, string p) => src.Handle("h/a", new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(p)), rows);
        Send(two, """[[1700000000, 21.5, 40], [1700000300123, "22", null], ["2023-11-14T22:23:20Z", 23, 41]]""");
        var got = rows.Got.ToArray();
        Assert.Equal(new long[] { 1_700_000_000_000, 1_700_000_300_123, 1_700_000_600_000 }, got.Select(g => g.Ts));
        Assert.Equal(new[] { 21.5f, 40f }, got[0].V);
        Assert.Equal(22f, got[1].V[0]);
        Assert.True(float.IsNaN(got[1].V[1]));
        Assert.Equal(0, two.Counters["bad_payloads"]);
        Send(two, """[[1700000900, 24, 42], [1700001200, 25], [1700001500, 26, 43]]""");
        Assert.Equal(4, rows.Got.Count); // the first row went through; the short one stops the payload
        Assert.Equal(1, two.Counters["bad_payloads"]);
        Assert.Contains(log, l => l.Contains("row 1: 1 value(s) for the 2 channel(s) temp, hum", StringComparison.Ordinal));
        Send(two, """[["yesterday", 1, 2]]""");
        Assert.Contains(log, l => l.Contains("row 0: the first element is not a time", StringComparison.Ordinal));
        var one = new MqttSource("h/#", new MqttSourceOptions("unused") { Fields = ["value"] });
        Send(one, """[[1700000000, 61.5], [1700000060, 62]]""");
        Assert.Equal(new[] { 61.5f, 62f }, rows.Got.Skip(4).Select(g => g.V[0]));
    }

    // issue 15: plain numbers, a configured JSON path, Home Assistant state objects; bad payloads are logged, not just counted.
    [Fact]
    public void Plain_numbers_field_paths_and_home_assistant_state_payloads()
    {
        var log = new List<string>();
        var rows = new Rows();
        var one = new MqttSource("s/#", new MqttSourceOptions("unused") { Fields = ["state"], Log = log.Add });
        void Send(MqttSource src, string p) => src.Handle("s/a", new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(p)), rows);
        Send(one, "61.5");
        Send(one, " 62\n");
        Send(one, "unavailable");
        Send(one, """{"entity_id": "sensor.t", "state": "21.5", "attributes": {"unit_of_measurement": "°C"}, "last_changed": "2024-05-01T10:00:00+00:00"}""");
        Send(one, "hello");
        var got = rows.Got.ToArray();
        Assert.Equal(4, got.Length);
        Assert.Equal(61.5f, got[0].V[0]);
        Assert.Equal(62f, got[1].V[0]);
        Assert.True(float.IsNaN(got[2].V[0]));
        Assert.Equal(21.5f, got[3].V[0]);
        Assert.Equal(new DateTimeOffset(2024, 5, 1, 10, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), got[3].Ts);
        Assert.Equal(1, one.Counters["bad_payloads"]);
        Assert.Contains(log, l => l.Contains("s/a: payload dropped: neither a number nor a JSON object"));

        var nested = new MqttSource("s/#", new MqttSourceOptions("unused") { Fields = ["temp"], FieldPaths = ["sensor.temperature"] });
        rows.Got.Clear();
        Send(nested, """{"sensor": {"id": 3, "temperature": 19.25, "x": [1]}, "ts": 1700000000}""");
        Send(nested, """{"sensor": {"humidity": 40}}""");
        Assert.Single(rows.Got);
        Assert.Equal(19.25f, rows.Got.Single().V[0]);
        Assert.Equal(1_700_000_000_000, rows.Got.Single().Ts);
        Assert.Equal(1, nested.Counters["bad_payloads"]);

        var two = new MqttSource("s/#", new MqttSourceOptions("unused") { Fields = ["a", "b"], Log = log.Add });
        Send(two, "5");
        Assert.Contains(log, l => l.Contains("plain number, but the stream has 2 channels"));
    }

    // issue 13 row 6: a payload over the limit is counted and dropped.
    [Fact]
    public void Oversize_payloads_are_counted_and_dropped()
    {
        var log = new List<string>();
        var rows = new Rows();
        var src = new MqttSource("s/#", new MqttSourceOptions("unused") { Fields = ["v"], MaxPayloadBytes = 1024, Log = log.Add });
        src.Handle("s/a", new ReadOnlySequence<byte>(new byte[4096]), rows);
        src.Handle("s/a", new ReadOnlySequence<byte>("{\"v\": 1}"u8.ToArray()), rows);
        Assert.Single(rows.Got);
        Assert.Equal(1, src.Counters["oversize_payloads"]);
        Assert.Contains(log, l => l.Contains("4096 bytes is over the 1024-byte limit"));
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
