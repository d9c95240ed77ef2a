using System.Text;
using System.Text.Json;
using EdgeRnn.Daemon;
using EdgeRnn.Forecasting;
using EdgeRnn.Model;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeRnn.Daemon.Tests;

/// <summary>
/// Fault injection, one test (or more) per row of issue 13's table this project owns: each asserts that the stream goes on
/// with contiguous seq numbers, or that the process exits non-zero and says why.
/// </summary>
public sealed class ReliabilityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-rel-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static ResolvedStream Stream(string name = "s1", bool condition = false) => new(name, "test", "step.safetensors", Precision.Int8, true, null, condition);

    private static List<OutboxMessage> Drain(Outbox o)
    {
        var got = new List<OutboxMessage>();
        while (o.Peek() is { } m) { got.Add(m); o.Ack(m); }
        return got;
    }

    private static void Contiguous(IEnumerable<long> seqs, long first)
    {
        long expect = first;
        foreach (long s in seqs) Assert.Equal(expect++, s);
    }

    private static long Ts(OutboxMessage m) { using var d = JsonDocument.Parse(m.Payload); return d.RootElement.GetProperty("ts").GetInt64(); }

    // ---- row 1: far-future timestamps ----

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Far_future_and_pre_1970_stamps_are_restamped_and_a_live_stream_goes_on(bool condition)
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 1 << 20, TimeSpan.Zero);
        var log = new ListLogger();
        var p = new StreamPipeline(Stream(condition: condition), new StepForecaster(), outbox, "t/s1", 0, log, condition);
        long t0 = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 3_600_000) / 10_000 * 10_000;
        long[] bad = [long.MaxValue /* ts 1e300, saturated */, 253402300799000 /* 9999-12-31T23:59:59Z */, 32503680000000 /* year 3000 */,
            t0 + 2 * 2_147_483_648L /* a device clock that jumped +2^32 ms */, -5];
        int b = 0;
        for (int i = 0; i < 40; i++)
        {
            long ts = i % 7 == 3 && b < bad.Length ? bad[b++] : t0 + i * 10_000L;
            p.OnSample("x", ts, [i]);
        }
        Assert.Equal(bad.Length, p.Metrics.ClampedTimestamps);
        Assert.Contains(log.Entries, e => e.Message.Contains("re-stamped", StringComparison.Ordinal) && e.Message.Contains("s1", StringComparison.Ordinal));
        var msgs = Drain(outbox);
        Contiguous(msgs.Select(m => m.Seq), 1);
        // the stream did not freeze: the last forecast is for the last real sample
        Assert.Equal(t0 + 39 * 10_000L, Ts(msgs[^1]));
        Assert.True(msgs.Count >= 30, $"only {msgs.Count} forecasts from 40 samples");
        Assert.All(msgs, m => Assert.True(Ts(m) <= DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 60_000, "a forecast kept a far-future time"));
    }

    [Fact]
    public void A_year_3000_row_in_a_replay_of_the_past_is_restamped_one_period_on_and_the_replay_goes_on()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 1 << 20, TimeSpan.Zero);
        var p = new StreamPipeline(Stream(condition: true), new StepForecaster(), outbox, "t/s1", 0, new ListLogger(), true);
        long t0 = 1_451_606_400_000; // 2016-01-01, like the NAB series
        for (int i = 0; i < 30; i++) p.OnSample("x", i == 12 ? 32503680000000 : t0 + i * 10_000L, [i]);
        var msgs = Drain(outbox);
        Contiguous(msgs.Select(m => m.Seq), 1);
        Assert.Equal(t0 + 29 * 10_000L, Ts(msgs[^1]));
        Assert.Equal(29, msgs.Count); // 30 samples, the first not ready; row 12 re-stamped to row 11 + 1 period, its own slot
        Assert.Equal(1, p.Metrics.ClampedTimestamps);
    }

    [Fact]
    public void Health_turns_red_when_samples_flow_but_forecasts_stop()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 1 << 20, TimeSpan.Zero);
        var p = new StreamPipeline(Stream(), new StepForecaster(), outbox, "t/s1", 0, new ListLogger());
        for (int i = 0; i < 3; i++) p.OnSample("x", 1000 + i * 10_000L, [i]);
        long now = Environment.TickCount64;
        Assert.False(p.ForecastsStalled(now, out _));
        var metrics = new DaemonMetrics { Outbox = outbox };
        metrics.Streams.Add(p.Metrics);
        var settings = new DaemonSettings([Stream()], null, "edgernn", "gw", "homeassistant", false, 0, 0, _dir, 1 << 20, TimeSpan.Zero,
            TimeSpan.FromSeconds(60), TimeSpan.Zero, null, LogLevel.Information);
        // samples still arrive (bytes flow), 40 minutes after the last forecast: beyond 150 periods of 10 s
        p.Metrics.LastSampleTicks = now + 2_400_000;
        Assert.True(p.ForecastsStalled(now + 2_400_000, out double since));
        Assert.True(since >= 2399);
        var (healthy, detail) = DaemonService.Health([p], metrics, settings);
        // Health uses the real clock: the sample "arrives" in the future, so it is fresh, and the stall is what makes it red
        Assert.False(healthy, detail);
        Assert.Contains("STALLED", detail);
    }

    // ---- row 2: run exits non-zero when the service fails; predict exits 1 on a damaged header ----

    [Fact]
    public async Task Run_exits_1_when_the_service_fails_instead_of_logging_and_exiting_0()
    {
        string model = Path.Combine(_dir, "m.safetensors");
        File.WriteAllText(model, "not used");
        var settings = new DaemonSettings([new ResolvedStream("s1", "stdin", model, Precision.Int8, false, null)], null, "edgernn", "gw",
            "homeassistant", false, 0, 0, Path.Combine(_dir, "state"), 1 << 20, TimeSpan.Zero, TimeSpan.FromSeconds(60), TimeSpan.Zero, null, LogLevel.Warning);
        var factories = new DaemonFactories
        {
            CreateForecaster = _ => throw new InvalidOperationException("a bug nobody expected"),
            CreateSource = _ => throw new InvalidOperationException("not reached"),
        };
        int before = Environment.ExitCode;
        try
        {
            using var host = DaemonHost.Build(settings, factories);
            await host.RunAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(1, Environment.ExitCode);
        }
        finally { Environment.ExitCode = before; }
    }

    private string DamagedModel(Func<byte[], byte[]> damage)
    {
        var p = new ForecasterParameters(new ForecasterShape(RnnArch.Gru, 1, 4, 1, 1));
        EdgeRnn.Model.Training.Optimization.InitializeUniform(p, 3);
        p.Metadata["name"] = "damaged-header";
        string path = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(path, damage(ModelFile.ToBytes(p)));
        return path;
    }

    [Fact]
    public void Predict_on_a_header_with_invalid_utf8_exits_1_with_the_reason_not_134()
    {
        string model = DamagedModel(f =>
        {
            int at = Encoding.UTF8.GetString(f).IndexOf("damaged-header", StringComparison.Ordinal);
            f[at] = 0xFE; // never valid in UTF-8
            return f;
        });
        string input = Path.Combine(_dir, "in.csv");
        File.WriteAllText(input, "x\n1\n2\n");
        var (code, text) = Harness.RunToEnd("dotnet", [Harness.CliDll, "predict", "--model", model, "--input", input, "--output", Path.Combine(_dir, "out.csv")], TimeSpan.FromSeconds(60));
        Assert.True(code == 1, $"exit {code}: {text}");
        Assert.Contains("bad.safetensors", text);
        Assert.Contains("not valid UTF-8", text);
        Assert.DoesNotContain("Unhandled exception", text);
    }

    // ---- row 7: seq never repeats after outbox damage ----

    [Fact]
    public void A_flipped_byte_in_a_published_record_never_makes_seq_repeat()
    {
        string dir = Path.Combine(_dir, "o");
        using (var o = new Outbox(dir, 1 << 20, TimeSpan.Zero))
        {
            var p = new StreamPipeline(Stream(), new StepForecaster(), o, "t/s1", 0, new ListLogger());
            for (int i = 0; i < 465; i++) p.OnSample("x", 1000 + i * 10_000L, [i]);
            Assert.Equal(464, Drain(o).Count); // all published and acknowledged
        }
        string seg = Directory.GetFiles(dir, "seg-*.log").Single();
        byte[] bytes = File.ReadAllBytes(seg);
        bytes[bytes.Length * 364 / 464] ^= 0x10; // inside record ~365
        File.WriteAllBytes(seg, bytes);
        var log = new ListLogger();
        using (var o = new Outbox(dir, 1 << 20, TimeSpan.Zero, log))
        {
            Assert.Equal(464, o.LastSeq("s1"));
            var p = new StreamPipeline(Stream(), new StepForecaster(), o, "t/s1", 0, log);
            for (int i = 0; i < 5; i++) p.OnSample("x", 10_000_000 + i * 10_000L, [i]);
            Contiguous(Drain(o).Select(m => m.Seq), 465);
        }
        Assert.Contains(log.Entries, e => e.Message.Contains("corrupt", StringComparison.Ordinal));
    }

    // ---- row 8: stray files, outbox path being a file ----

    [Fact]
    public void A_stray_segment_name_is_ignored_with_a_warning_and_the_outbox_works()
    {
        string dir = Path.Combine(_dir, "o");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "seg-5.log"), "left here by hand");
        Directory.CreateDirectory(Path.Combine(dir, "seg-x.log.d"));
        var log = new ListLogger();
        using (var o = new Outbox(dir, 1 << 20, TimeSpan.Zero, log))
        {
            for (int i = 1; i <= 3; i++) Assert.True(o.Append("a", i, "t", 0, [1, 2, 3]));
            Contiguous(Drain(o).Select(m => m.Seq), 1);
        }
        Assert.Contains(log.Entries, e => e.Message.Contains("seg-5.log", StringComparison.Ordinal) && e.Message.Contains("ignoring", StringComparison.Ordinal));
        Assert.Equal("left here by hand", File.ReadAllText(Path.Combine(dir, "seg-5.log")));
    }

    [Fact]
    public void Run_with_the_outbox_path_taken_by_a_file_exits_1_and_says_why()
    {
        string state = Path.Combine(_dir, "state");
        Directory.CreateDirectory(state);
        File.WriteAllText(Path.Combine(state, "outbox"), "a file where the spool directory goes");
        string model = Path.Combine(_dir, "m.safetensors");
        File.WriteAllText(model, "the state dir fails first");
        var (code, text) = Harness.RunToEnd("dotnet", [Harness.CliDll, "run", "--source", "stdin", "--model", model, "--state-dir", state, "--metrics", "off"],
            TimeSpan.FromSeconds(60));
        Assert.True(code == 1, $"exit {code}: {text}");
        Assert.Contains("state directory", text);
        Assert.Contains(state, text);
    }

    // ---- row 9: disk full / read-only: drop and count, keep forecasting, resume, clean temp files ----

    [Fact]
    public void A_full_or_read_only_disk_drops_forecasts_counts_them_and_resumes_with_contiguous_seq()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "o"), 1 << 20, TimeSpan.Zero, new ListLogger());
        var f = new StepForecaster();
        var p = new StreamPipeline(Stream(), f, outbox, "t/s1", 0, new ListLogger());
        var metrics = new DaemonMetrics { Outbox = outbox };
        metrics.Streams.Add(p.Metrics);
        var settings = new DaemonSettings([Stream()], null, "edgernn", "gw", "homeassistant", false, 0, 0, _dir, 1 << 20, TimeSpan.Zero,
            TimeSpan.FromSeconds(60), TimeSpan.Zero, null, LogLevel.Information);
        for (int i = 0; i < 11; i++) p.OnSample("x", 1000 + i * 10_000L, [i]);
        Assert.Equal(10, outbox.LastSeq("s1"));
        int n = 0;
        outbox.BeforeWrite = () => throw (n++ % 2 == 0 ? new IOException("No space left on device") : new UnauthorizedAccessException("Read-only file system"));
        for (int i = 11; i < 31; i++) p.OnSample("x", 1000 + i * 10_000L, [i]);
        Assert.Equal(31, f.Inputs.Count); // the model kept stepping
        Assert.Equal(20, outbox.WriteFailures);
        Assert.Equal(10, outbox.LastSeq("s1")); // no seq used up by a dropped forecast
        var (healthy, detail) = DaemonService.Health([p], metrics, settings);
        Assert.True(healthy);
        Assert.StartsWith("degraded: the outbox cannot be written", detail);
        Assert.Contains("edgernn_outbox_write_failures_total 20", metrics.Render());
        outbox.BeforeWrite = null; // space returns
        for (int i = 31; i < 36; i++) p.OnSample("x", 1000 + i * 10_000L, [i]);
        Assert.Null(outbox.WriteError);
        Contiguous(Drain(outbox).Select(m => m.Seq), 1);
        Assert.Equal(15, outbox.LastSeq("s1"));
    }

    [Fact]
    public void When_everything_was_acknowledged_a_full_disk_reuses_the_spent_segment_and_seq_survives()
    {
        string dir = Path.Combine(_dir, "o");
        using (var o = new Outbox(dir, 1 << 20, TimeSpan.Zero))
        {
            for (int i = 1; i <= 200; i++) o.Append("a", i, "t", 0, new byte[100]);
            Drain(o);
            long before = o.Bytes;
            int fail = 1;
            o.BeforeWrite = () => { if (fail-- > 0) throw new IOException("No space left on device"); };
            Assert.True(o.Append("a", 201, "t", 0, new byte[100]));
            Assert.True(o.Bytes < before / 10, $"spool {o.Bytes} bytes, was {before}: the spent segment was not reused");
            Assert.Equal(0, o.WriteFailures);
        }
        using (var o = new Outbox(dir, 1 << 20, TimeSpan.Zero))
        {
            Assert.Equal(201, o.LastSeq("a"));
            Assert.Equal([201L], Drain(o).Select(m => m.Seq));
        }
    }

    [Fact]
    public void A_failed_atomic_write_leaves_no_temp_file()
    {
        string target = Path.Combine(_dir, "ck");
        Directory.CreateDirectory(target); // the rename over it fails, as a full disk or a read-only remount would
        Assert.ThrowsAny<IOException>(() => EdgeRnn.Model.AtomicFile.Write(target, new byte[1000]));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    // ---- row 10: topic parts ----

    [Fact]
    public void Topic_parts_are_checked_in_one_place_at_validate_time()
    {
        string model = Path.Combine(_dir, "m.safetensors");
        File.WriteAllText(model, "x");
        var (options, _) = DaemonConfig.Load(["--source", "stdin", "--model", model, "--discovery-prefix", "+", "--topic-prefix", "a\0b",
            "--gateway", "$SYS", "--stream", "x#y"], new Dictionary<string, string?>());
        var e = Assert.Throws<ConfigException>(() => DaemonConfig.Resolve(options, new Dictionary<string, string?>()));
        Assert.Contains("DiscoveryPrefix: '+' must not contain the wildcard '+'", e.Message);
        Assert.Contains("TopicPrefix: 'a\\u0000b' must not contain a NUL character", e.Message);
        Assert.Contains("Gateway: '$SYS' must not start with '$'", e.Message);
        Assert.Contains("stream name 'x#y' must not contain the wildcard '#'", e.Message);
        Assert.Equal("edgernn_gw_s1_x_y", TopicNames.DiscoveryObjectId("gw", "s1", "x+y"));
        Assert.Empty(TopicNames.CheckTargets("gw", "s1", ["x+y", "temp"]));
        Assert.Contains("both become", TopicNames.CheckTargets("gw", "s1", ["x+y", "x/y"]).Single());
        Assert.Null(TopicNames.CheckPrefix("homeassistant"));
        Assert.Null(TopicNames.CheckPrefix("plant/line-2"));
        Assert.NotNull(TopicNames.CheckPrefix("plant//x"));
    }

    [Fact]
    public void Validate_refuses_a_discovery_prefix_the_broker_would_refuse()
    {
        string model = Path.Combine(_dir, "m.safetensors");
        File.WriteAllText(model, "x");
        var (code, text) = Harness.RunToEnd("dotnet", [Harness.CliDll, "run", "--source", "stdin", "--model", model, "--discovery-prefix", "+", "--validate"], TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Contains("DiscoveryPrefix: '+'", text);
    }

    // ---- row 12: the unit file ----

    [Fact]
    public void The_unit_file_scores_at_most_3_in_systemd_analyze_security_and_still_opens_serial_devices()
    {
        string unit = Path.Combine(Harness.Root, "deploy/edgernn.service");
        var (code, text) = Harness.RunToEnd("systemd-analyze", ["security", "--offline=true", "--no-pager", unit], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, text);
        var m = System.Text.RegularExpressions.Regex.Match(text, @"Overall exposure level for edgernn\.service: (\d+\.\d)");
        Assert.True(m.Success, text);
        double score = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(score <= 3.0, $"exposure {score}:\n{text}");
        string[] lines = File.ReadAllLines(unit);
        foreach (string tty in (string[])["ttyUSB", "ttyACM", "ttyAMA", "ttyS"])
            Assert.Contains($"DeviceAllow=char-{tty} rw", lines);
        Assert.Contains("SupplementaryGroups=dialout", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("PrivateDevices=true", StringComparison.Ordinal)); // would hide /dev/tty*
    }
}
