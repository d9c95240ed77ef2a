using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.IO.Ports;
using EdgeRnn.Ingest.Bridge;

namespace EdgeRnn.Ingest.Tests;

[Collection("pty")]
public class SimulatorTests
{
    private sealed class Frames : IFrameHandler
    {
        public readonly List<(FrameType Type, uint Time, float[] V, HelloInfo? Hello)> Got = new();
        public void OnFrame(in Frame f)
        {
            HelloInfo? h = null;
            if (f.Type == FrameType.Hello) HelloInfo.TryParse(f.Body, out h);
            float[] v = [];
            if (f.Type is FrameType.DataF32 or FrameType.DataI16)
            {
                v = new float[f.Count];
                for (int i = 0; i < v.Length; i++) v[i] = f.Value(i);
            }
            Got.Add((f.Type, f.DeviceTimeMs, v, h));
        }
    }

    [Fact]
    public void Plays_a_csv_as_hello_then_data_frames()
    {
        using var dir = new TestPaths.TempDir();
        string csv = Path.Combine(dir.Path, "d.csv");
        File.WriteAllText(csv, "timestamp,a,b,c\n2024-01-01T00:00:00Z,1,2,3\n2024-01-01T00:00:01Z,4,,6\n2024-01-01T00:00:02Z,7,8,9\n");
        var ms = new MemoryStream();
        long n = DeviceSimulator.Run(ms, new SimulatorOptions(csv) { RateHz = 1000, Columns = ["c", "a"] }, CancellationToken.None);
        Assert.Equal(3, n);
        var dec = new FrameDecoder();
        var frames = new Frames();
        dec.Push(ms.ToArray(), frames);
        Assert.Equal(0, dec.BadFrames);
        Assert.Equal(FrameType.Hello, frames.Got[0].Type);
        Assert.Equal(["c", "a"], frames.Got[0].Hello!.ChannelNames);
        Assert.Equal(1000u, frames.Got[0].Hello!.SamplePeriodUs);
        var data = frames.Got.Where(f => f.Type == FrameType.DataF32).ToArray();
        Assert.Equal(new[] { 3f, 1f }, data[0].V);
        Assert.Equal(new[] { 6f, 4f }, data[1].V);
        Assert.Equal(new[] { 9f, 7f }, data[2].V);
        Assert.Equal(new uint[] { 0, 1, 2 }, data.Select(d => d.Time));
    }

    [Fact]
    public void Slow_rates_send_heartbeats_between_data_frames()
    {
        using var dir = new TestPaths.TempDir();
        string csv = Path.Combine(dir.Path, "d.csv");
        File.WriteAllText(csv, "v\n1\n2\n3\n");
        var ms = new MemoryStream();
        DeviceSimulator.Run(ms, new SimulatorOptions(csv) { RateHz = 0.8 }, CancellationToken.None);
        var frames = new Frames();
        new FrameDecoder().Push(ms.ToArray(), frames);
        var types = frames.Got.Select(f => f.Type).ToList();
        Assert.Equal(3, types.Count(t => t == FrameType.DataF32));
        int firstData = types.IndexOf(FrameType.DataF32), lastData = types.LastIndexOf(FrameType.DataF32);
        Assert.Contains(FrameType.Heartbeat, types.GetRange(firstData, lastData - firstData));
    }

    [Fact]
    public async Task Simulator_to_serial_source_over_a_pty_delivers_the_csv_exactly()
    {
        using var dir = new TestPaths.TempDir();
        using var socat = new Socat(dir.Path);
        string ett = Path.Combine(TestPaths.Root, "models", "data", "ett", "ETTh1.csv");
        var expected = File.ReadLines(ett).Skip(1).Take(500)
            .Select(l => l.Split(','))
            .Select(c => new[] { float.Parse(c[7], CultureInfo.InvariantCulture), float.Parse(c[1], CultureInfo.InvariantCulture) })
            .ToArray();

        var rec = new SerialSourceTests.Recorder();
        await using var src = new SerialSource(new SerialSettings(socat.B));
        using var cts = new CancellationTokenSource();
        Task run = src.RunAsync(rec, cts.Token);
        try
        {
            var sw = Stopwatch.StartNew();
            while (!src.Connected && sw.Elapsed < TimeSpan.FromSeconds(3)) await Task.Delay(10);
            using (var port = SerialSource.Open(new SerialSettings(socat.A), out _))
                DeviceSimulator.Run(port.BaseStream, new SimulatorOptions(ett) { RateHz = 1000, Columns = ["OT", "HUFL"], MaxFrames = 500 }, CancellationToken.None);
            while (rec.Samples.Count < 500 && sw.Elapsed < TimeSpan.FromSeconds(8)) await Task.Delay(10);
            var got = rec.Samples.Select(s => s.Values).ToArray();
            Assert.Equal(500, got.Length);
            for (int i = 0; i < 500; i++) Assert.Equal(expected[i], got[i]);
            Assert.Equal(["OT", "HUFL"], src.Channels);
            Assert.Equal("edgernn-sim", src.Device!.DeviceId);
            Assert.Equal(0, src.Counters["bad_frames"]);
            Assert.Equal(0, src.Counters["lost_frames"]);
        }
        finally
        {
            cts.Cancel();
            await run.WaitAsync(TimeSpan.FromSeconds(5));
        }
    }
}
