using System.Collections.Concurrent;
using System.Diagnostics;
using EdgeRnn.Ingest.Bridge;

namespace EdgeRnn.Ingest.Tests;

/// <summary>The supervised serial source over real socat pty pairs: 1 kHz streams, unplug/replug, error messages.</summary>
[Collection("pty")]
public class SerialSourceTests
{
    internal sealed class Recorder : ISampleSink
    {
        public readonly ConcurrentQueue<(string Stream, long Ts, float[] Values, long AtMs)> Samples = new();
        public readonly Stopwatch Clock = Stopwatch.StartNew();
        public void OnSample(string stream, long timestampMs, ReadOnlySpan<float> values) =>
            Samples.Enqueue((stream, timestampMs, values.ToArray(), Clock.ElapsedMilliseconds));
    }

    /// <summary>A fake microcontroller on the pty's other end: lone 0x00 and hello on every (re)open, then data at
    /// 1 kHz; its sequence numbers keep counting while it cannot write (the device keeps sampling while unplugged).</summary>
    private sealed class Device : IDisposable
    {
        private readonly string _path;
        private readonly Thread _thread;
        private volatile bool _stop;
        private readonly FrameEncoder _enc = new();
        public volatile int Generated;      // data frames produced
        public volatile int Written;        // data frames written to an open pty
        public volatile int Opens;
        /// <summary>Every frame the device produced, hellos included (= its next sequence number).</summary>
        public int TotalFrames => _enc.Sequence;
        public readonly int Limit;

        public Device(string path, int limit)
        {
            _path = path;
            Limit = limit;
            _thread = new Thread(Run) { IsBackground = true };
            _thread.Start();
        }

        private void Run()
        {
            byte[] buf = new byte[64 * 1024];
            var clock = Stopwatch.StartNew();
            FileStream? fs = null;
            float[] v = new float[3];
            while (!_stop && Generated < Limit)
            {
                try
                {
                    if (fs is null)
                    {
                        fs = new FileStream(_path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 0);
                        Opens++;
                        buf[0] = 0;
                        int n = 1 + _enc.Hello((uint)clock.ElapsedMilliseconds, "fake-1", 1000, ["x", "y", "z"], ["u", "u", "u"], buf.AsSpan(1));
                        fs.Write(buf, 0, n);
                    }
                    int due = Math.Min(Limit, (int)clock.ElapsedMilliseconds) - Generated;
                    int at = 0;
                    for (; due > 0 && at < buf.Length - 256; due--)
                    {
                        int k = Generated;
                        v[0] = k; v[1] = -k; v[2] = k * 0.5f;
                        at += _enc.DataF32((uint)k, v, buf.AsSpan(at));
                        Generated = k + 1;
                    }
                    if (at > 0) fs.Write(buf, 0, at);
                    Written = Generated;
                }
                catch (IOException)
                {
                    fs?.Dispose();
                    fs = null;
                    // unplugged: the device keeps sampling, the frames are lost
                    int due = Math.Min(Limit, (int)clock.ElapsedMilliseconds) - Generated;
                    for (; due > 0; due--) { _enc.DataF32((uint)Generated, v, buf); Generated++; }
                }
                catch (UnauthorizedAccessException) { fs = null; }
                Thread.Sleep(1);
            }
            fs?.Dispose();
        }

        public void Join() => _thread.Join();
        public void Dispose() { _stop = true; _thread.Join(); }
    }

    private static async Task<T> WithSource<T>(SerialSettings settings, Recorder rec, Func<SerialSource, Task<T>> body)
    {
        await using var src = new SerialSource(settings);
        using var cts = new CancellationTokenSource();
        Task run = src.RunAsync(rec, cts.Token);
        try { return await body(src); }
        finally
        {
            cts.Cancel();
            await run.WaitAsync(TimeSpan.FromSeconds(5));
        }
    }

    // A source on socat's B end, logging to a queue, connected before the body runs; configure adds settings.
    private static async Task WithConnectedSource(Func<SerialSettings, SerialSettings> configure,
                                                  Func<Socat, Recorder, ConcurrentQueue<string>, SerialSource, Task> body)
    {
        using var dir = new TestPaths.TempDir();
        using var socat = new Socat(dir.Path);
        var rec = new Recorder();
        var log = new ConcurrentQueue<string>();
        await WithSource(configure(new SerialSettings(socat.B) { Log = log.Enqueue }), rec, async src =>
        {
            WaitFor(() => src.Connected, TimeSpan.FromSeconds(3), "connect");
            await body(socat, rec, log, src);
            return 0;
        });
    }

    private static void WaitFor(Func<bool> condition, TimeSpan timeout, string what) => WaitFor(condition, timeout, () => what);

    private static void WaitFor(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) throw new TimeoutException("timed out waiting for " + what());
            Thread.Sleep(10);
        }
    }

    [Fact]
    public async Task Frames_at_1kHz_arrive_complete_and_in_order()
    {
        await WithConnectedSource(s => s, async (socat, rec, log, src) =>
        {
            using var dev = new Device(socat.A, 3000);
            dev.Join();
            WaitFor(() => rec.Samples.Count >= 3000, TimeSpan.FromSeconds(10),
                () => $"3000 samples: got {rec.Samples.Count}, device generated {dev.Generated}, opened {dev.Opens}x; " +
                      string.Join(", ", src.Counters.Select(kv => kv.Key + "=" + kv.Value)));
            await Task.Delay(100);
            var c = src.Counters;
            var values = rec.Samples.Select(s => s.Values[0]).ToArray();
            string counters = string.Join(", ", c.Select(kv => kv.Key + "=" + kv.Value));
            Assert.True(values.SequenceEqual(Enumerable.Range(0, 3000).Select(i => (float)i)),
                $"got {values.Length} samples, first missing {Enumerable.Range(0, 3000).FirstOrDefault(i => i >= values.Length || values[i] != i)} ({counters})");
            Assert.All(rec.Samples, s => Assert.Equal(-s.Values[0], s.Values[1]));
            Assert.Equal(0, c["bad_frames"]);
            Assert.Equal(0, c["lost_frames"]);
            Assert.Equal(3001, c["frames"]);           // hello + 3000 data
            Assert.Equal(["x", "y", "z"], src.Channels);
            Assert.Equal("fake-1", src.Device!.DeviceId);
            // device time (1 ms per frame) maps to Unix time with the same spacing
            var ts = rec.Samples.Select(s => s.Ts).ToArray();
            Assert.True(Enumerable.Range(1, ts.Length - 1).All(i => ts[i] - ts[i - 1] == 1), "device time spacing is kept");
            Assert.InRange(ts[0], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 60_000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        });
    }

    [Fact]
    public async Task Unplug_and_replug_reconnects_within_two_seconds_and_counts_the_loss()
    {
        await WithConnectedSource(s => s, async (socat, rec, log, src) =>
        {
            using var dev = new Device(socat.A, 5000);
            WaitFor(() => rec.Samples.Count >= 1500, TimeSpan.FromSeconds(5), "first 1500 samples");
            socat.Kill();                                   // unplug: both ptys vanish
            WaitFor(() => !src.Connected, TimeSpan.FromSeconds(5), "the source to notice the unplug");
            await Task.Delay(300);
            int before = rec.Samples.Count;
            socat.Start();                                  // replug, same link names
            long replugAt = rec.Clock.ElapsedMilliseconds;
            WaitFor(() => rec.Samples.Count > before, TimeSpan.FromSeconds(5), "samples after replug");
            long firstAfter = rec.Samples.Skip(before).First().AtMs;
            Assert.True(firstAfter - replugAt < 2000, $"reconnect took {firstAfter - replugAt} ms");
            dev.Join();
            WaitFor(() => rec.Samples.Last().Values[0] == 4999f, TimeSpan.FromSeconds(5), "the last frame");
            await Task.Delay(100);

            var c = src.Counters;
            var values = rec.Samples.Select(s => s.Values[0]).ToArray();
            Assert.True(values.Zip(values.Skip(1)).All(p => p.Second > p.First), "samples stay in order");
            Assert.True(c["reconnects"] >= 1);
            Assert.True(c["disconnects"] >= 1);
            Assert.True(c["lost_frames"] > 0);
            // every data frame the device generated was either delivered or counted as lost
            Assert.True(dev.TotalFrames == c["frames"] + c["lost_frames"],
                $"delivered {c["frames"]} + lost {c["lost_frames"]} != {dev.TotalFrames} generated ({string.Join(", ", c.Select(kv => kv.Key + "=" + kv.Value))})");
            // a frame cut by the unplug (or by the replugged pty's buffer overflowing before we reopen) is a bad frame;
            // more than a few would mean the decoder lost sync
            Assert.True(c["bad_frames"] <= 4, $"bad frames: {c["bad_frames"]}");
            Assert.Contains(log, l => l.Contains("device lost", StringComparison.Ordinal) || l.Contains("vanished", StringComparison.Ordinal));
        });
    }

    [Fact]
    public async Task Opens_through_a_relative_by_id_style_symlink_and_notices_when_the_link_goes()
    {
        using var dir = new TestPaths.TempDir();
        using var socat = new Socat(dir.Path);
        string byId = Path.Combine(dir.Path, "serial", "by-id");
        Directory.CreateDirectory(byId);
        string link = Path.Combine(byId, "usb-EdgeRnn_Sim_1234-if00");
        File.CreateSymbolicLink(link, "../../b");               // relative, like udev's /dev/serial/by-id links
        var rec = new Recorder();
        var log = new ConcurrentQueue<string>();
        await WithSource(new SerialSettings(link) { Log = log.Enqueue, ReconnectMax = TimeSpan.FromMilliseconds(200) }, rec, async src =>
        {
            WaitFor(() => src.Connected, TimeSpan.FromSeconds(3), "connect");
            string target = new FileInfo(socat.B).ResolveLinkTarget(true)!.FullName;
            Assert.Contains(log, l => l.Contains($"connected ({target})", StringComparison.Ordinal));
            using (var dev = new Device(socat.A, 300)) dev.Join();
            WaitFor(() => rec.Samples.Count >= 300, TimeSpan.FromSeconds(5), "300 samples");
            File.Delete(link);                                   // the udev link vanishes (device unplugged)
            WaitFor(() => !src.Connected, TimeSpan.FromSeconds(3), "the source to notice the link is gone");
            Assert.Contains(log, l => l.Contains("vanished", StringComparison.Ordinal));
            File.CreateSymbolicLink(link, "../../b");
            WaitFor(() => src.Connected, TimeSpan.FromSeconds(3), "reconnect through the new link");
            Assert.Equal(1, src.Counters["reconnects"]);
            await Task.CompletedTask;
            return 0;
        });
    }

    [Fact]
    public async Task A_silent_device_is_treated_as_gone_and_reopened()
    {
        using var dir = new TestPaths.TempDir();
        using var socat = new Socat(dir.Path);
        var rec = new Recorder();
        var log = new ConcurrentQueue<string>();
        string pts = new FileInfo(socat.B).ResolveLinkTarget(true)!.FullName;
        var settings = new SerialSettings(socat.B)
        {
            Log = log.Enqueue, StaleAfter = TimeSpan.FromMilliseconds(300), ReconnectMin = TimeSpan.FromMilliseconds(20),
            ReconnectMax = TimeSpan.FromMilliseconds(20),
        };
        int maxFds = 0, maxThreads = 0;
        // a reader thread joined by the previous test may take a moment to leave /proc/self/task
        WaitFor(() => SerialThreads() == 0, TimeSpan.FromSeconds(3), "earlier tests' reader threads to exit");
        await WithSource(settings, rec, async src =>
        {
            // several close/reopen cycles: never more than one descriptor on the pty, never more than one reader thread
            var sw = Stopwatch.StartNew();
            while (src.Counters["reconnects"] < 4 && sw.Elapsed < TimeSpan.FromSeconds(8))
            {
                maxFds = Math.Max(maxFds, OpenDescriptors(pts));
                maxThreads = Math.Max(maxThreads, SerialThreads());
                await Task.Delay(5);
            }
            Assert.True(src.Counters["reconnects"] >= 4, "reconnects: " + src.Counters["reconnects"]);
            Assert.Contains(log, l => l.Contains("no data for 0.3 s", StringComparison.Ordinal));
            return 0;
        });
        Assert.True(maxFds == 1, $"at most {maxFds} descriptors on {pts}");
        // one reader thread; a leak would add one per reopen (>= 5 here). Linux may list a just-exited thread for a moment.
        Assert.True(maxThreads is >= 1 and <= 2, $"at most {maxThreads} serial reader threads");
        Assert.True(OpenDescriptors(pts) == 0, "disposed: the port is closed");
        WaitFor(() => SerialThreads() == 0, TimeSpan.FromSeconds(3), "disposed: the reader thread to be gone");
    }

    private static int OpenDescriptors(string target) => Directory.GetFiles("/proc/self/fd").Count(fd =>
    {
        try { return new FileInfo(fd).LinkTarget == target; } catch (IOException) { return false; }
    });

    // Linux shows the first 15 bytes of a managed thread's name in /proc/self/task/*/comm
    private static int SerialThreads() => Directory.GetDirectories("/proc/self/task").Count(t =>
    {
        try { return File.ReadAllText(Path.Combine(t, "comm")).StartsWith("serial /", StringComparison.Ordinal); }
        catch (IOException) { return false; }
    });

    [Fact]
    public async Task Missing_device_gives_a_clear_error_and_the_source_keeps_retrying_until_it_appears()
    {
        using var dir = new TestPaths.TempDir();
        string missing = Path.Combine(dir.Path, "b");
        var e = Assert.Throws<SerialDeviceException>(() => SerialSource.Open(new SerialSettings(missing), out _));
        Assert.Contains($"'{missing}' does not exist", e.Message);
        Assert.Contains("plugged in", e.Message);

        var rec = new Recorder();
        var log = new ConcurrentQueue<string>();
        await WithSource(new SerialSettings(missing) { Log = log.Enqueue }, rec, async src =>
        {
            WaitFor(() => src.Counters["open_failures"] >= 2, TimeSpan.FromSeconds(5), "open failures");
            Assert.Contains("does not exist", src.LastError);
            Assert.Single(log, l => l.Contains("does not exist", StringComparison.Ordinal)); // said once, not every retry
            using var socat = new Socat(dir.Path);
            using var dev = new Device(socat.A, 200);
            WaitFor(() => rec.Samples.Count > 0, TimeSpan.FromSeconds(5), "samples once the device appears");
            Assert.Null(src.LastError);
            await Task.CompletedTask;
            return 0;
        });
    }

    [Fact]
    public void Permission_problems_mention_the_dialout_group()
    {
        // as root (CI) a real EACCES cannot be provoked, so this checks the mapping of what SerialPort.Open throws
        var e = SerialSource.Describe("/dev/ttyUSB0", new UnauthorizedAccessException("Access to the port '/dev/ttyUSB0' is denied."));
        Assert.Contains("permission denied", e.Message);
        Assert.Contains("dialout", e.Message);
        Assert.Contains("sudo usermod -aG dialout $USER", e.Message);
        var io = SerialSource.Describe("/dev/ttyACM0", new IOException("Permission denied : '/dev/ttyACM0'"));
        Assert.Contains("dialout", io.Message);
        var other = SerialSource.Describe("/dev/ttyACM0", new IOException("Device or resource busy"));
        Assert.DoesNotContain("dialout", other.Message);
        Assert.Contains("/dev/ttyACM0", other.Message);
    }

    [Fact]
    public async Task A_storm_of_bad_frames_is_reported_as_a_possible_baud_rate_mismatch()
    {
        await WithConnectedSource(s => s with { BaudRate = 9600 }, async (socat, rec, log, src) =>
        {
            // what a 115200-baud device looks like when read at the wrong rate: bytes, the odd 0x00, never a valid frame
            var rng = new Random(5);
            byte[] noise = new byte[2000];
            using var fs = new FileStream(socat.A, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 0);
            var sw = Stopwatch.StartNew();
            while (src.Warning is null && sw.Elapsed < TimeSpan.FromSeconds(6))
            {
                rng.NextBytes(noise);
                fs.Write(noise);
                await Task.Delay(20);
            }
            Assert.NotNull(src.Warning);
            Assert.Contains("possible baud-rate mismatch", src.Warning);
            Assert.Contains("9600", src.Warning);
            Assert.Contains(log, l => l.Contains("possible baud-rate mismatch", StringComparison.Ordinal));
            Assert.True(src.Counters["bad_frames"] >= 3);
            Assert.Empty(rec.Samples);
        });
    }
}
