using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using EdgeRnn.Daemon;
using Xunit.Abstractions;

namespace EdgeRnn.Daemon.Tests;

[Collection("processes")]
public sealed partial class ProcessTests(ITestOutputHelper output)
{
    [GeneratedRegex(@"resumed from checkpoint generation (\d+)")]
    private static partial Regex Resumed();

    [Fact]
    public async Task SIGKILL_at_random_moments_while_checkpointing_always_restarts_from_a_valid_checkpoint()
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-ckpt-kill-").FullName;
        using var pty = new PtyPair(dir);
        await pty.WaitReadyAsync();
        string state = Path.Combine(dir, "state"), ckpts = Path.Combine(state, "checkpoints");
        var rng = new Random(12345);
        long lastGen = 0;
        int resumed = 0, damaged = 0;
        await using var sensor = new SensorWriter(pty.SensorEnd, 100);
        for (int round = 0; round < 14; round++)
        {
            // what is on disk now is what the next start must resume from (the newest generation whose checksum holds)
            var valid = new CheckpointStore(ckpts, "machine").LoadAll();
            if (round == 9 && valid.Count == 2)
            {
                // tear the newest file as a power cut mid-write would (without rename safety): the older one must be used
                string newest = Path.Combine(ckpts, $"machine.ckpt.{valid[0].Generation & 1}");
                byte[] b = File.ReadAllBytes(newest);
                File.WriteAllBytes(newest, b[..(b.Length / 2)]);
                valid = new CheckpointStore(ckpts, "machine").LoadAll();
                damaged++;
            }
            using var daemon = new Child("edgernn", "dotnet", [Harness.CliDll, "run", "--source", $"serial:{pty.DaemonEnd}@115200", "--model", Harness.Model,
                "--precision", "float32", "--fine-tune", "on", "--gateway", "ck", "--stream", "machine", "--sample-period-seconds", "0.01", "--state-dir", state, "--metrics", "off",
                "--checkpoint-interval-seconds", "0.02", "--log-level", "Debug"]);
            await Harness.WaitUntil(() => daemon.Log.Contains("/forecast; next seq", StringComparison.Ordinal) || daemon.Process.HasExited, TimeSpan.FromSeconds(30), "the daemon to start");
            Assert.False(daemon.Process.HasExited, daemon.Log);
            string log = daemon.Log;
            if (valid.Count > 0)
            {
                var m = Resumed().Match(log);
                Assert.True(m.Success, $"round {round}: a valid checkpoint (generation {valid[0].Generation}) exists but the daemon did not resume:\n{log}");
                Assert.Equal(valid[0].Generation, long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
                Assert.True(valid[0].Generation >= lastGen - 1, "never further back than one generation");
                resumed++;
            }
            Assert.DoesNotContain("does not load", log);
            // once it is checkpointing (samples flow, a new generation landed), kill it at a random moment
            long before = valid.Count > 0 ? valid[0].Generation : 0;
            await Harness.WaitUntil(() => new CheckpointStore(ckpts, "machine").LoadAll() is { Count: > 0 } l && l[0].Generation > before,
                TimeSpan.FromSeconds(30), "a new checkpoint generation");
            await Task.Delay(rng.Next(50, 1200)); // checkpoints are being written every ~20 ms here
            Assert.True(daemon.Stop(Harness.SIGKILL, TimeSpan.FromSeconds(10)));
            var after = new CheckpointStore(ckpts, "machine").LoadAll();
            Assert.NotEmpty(after);
            lastGen = after[0].Generation;
        }
        output.WriteLine($"14 SIGKILLs, {resumed} resumes, newest generation {lastGen}, {damaged} torn file(s) injected");
        Assert.True(resumed >= 13, $"only {resumed} resumes");
        Assert.True(lastGen > 50, $"only {lastGen} checkpoint generations written");
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }

    [Fact]
    public void Malformed_config_gives_one_clear_message_and_exit_code_2()
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-badcfg-").FullName;
        string cfg = Path.Combine(dir, "edgernn.json");
        File.WriteAllText(cfg, "{ \"Source\": \"serial:/dev/ttyUSB0\", \"Precision\": \"int4\", ");
        var (code, text) = Harness.RunToEnd("dotnet", [Harness.CliDll, "run", "--config", cfg], TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Contains("edgernn.json", text);
        Assert.DoesNotContain("   at ", text); // no stack trace
        File.WriteAllText(cfg, $$"""{ "Source": "serial:/dev/ttyUSB0", "Model": "{{Harness.Model}}", "Precision": "int4", "Metrics": "nowhere" }""");
        (code, text) = Harness.RunToEnd("dotnet", [Harness.CliDll, "run", "--config", cfg, "--validate"], TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Contains("Precision: 'int4'", text);
        Assert.Contains("Metrics: 'nowhere'", text);
        File.WriteAllText(cfg, $$"""{ "Source": "serial:/dev/ttyUSB0@115200", "Model": "{{Harness.Model}}", "Precision": "float32" }""");
        (code, text) = Harness.RunToEnd("dotnet", [Harness.CliDll, "run", "--config", cfg, "--validate"], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, text);
        Assert.Contains("configuration OK", text);
        Assert.Contains("machine_temp_e2e", text);
    }

    [Fact]
    public async Task Unreachable_broker_at_start_keeps_forecasting_into_the_outbox_and_says_so()
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-nobroker-").FullName;
        using var pty = new PtyPair(dir);
        await pty.WaitReadyAsync();
        int deadPort = Harness.FreePort(), metricsPort = Harness.FreePort();
        await using var sensor = new SensorWriter(pty.SensorEnd, 100);
        using var daemon = new Child("edgernn", "dotnet", [Harness.CliDll, "run", "--source", $"serial:{pty.DaemonEnd}@115200", "--model", Harness.Model,
            "--precision", "float32", "--mqtt", $"mqtt://127.0.0.1:{deadPort}", "--gateway", "nb", "--stream", "machine", "--sample-period-seconds", "0.01",
            "--state-dir", Path.Combine(dir, "state"), "--metrics", $"127.0.0.1:{metricsPort}", "--drain-timeout-seconds", "1"]);
        string metrics = "";
        await Harness.WaitUntil(() =>
        {
            if (daemon.Process.HasExited) throw new InvalidOperationException(daemon.Log);
            metrics = Get(metricsPort, "/metrics");
            return Regex.IsMatch(metrics, @"edgernn_forecasts_total\{stream=""machine""\} [1-9]") && Regex.IsMatch(metrics, @"edgernn_publish_failures_total [1-9]");
        }, TimeSpan.FromSeconds(40), "forecasts while the broker is unreachable");
        Assert.Matches(@"edgernn_outbox_depth [1-9]", metrics);
        Assert.Contains("edgernn_mqtt_connected 0", metrics);
        string health = Get(metricsPort, "/healthz");
        Assert.StartsWith("HTTP/1.0 200", health);
        Assert.Contains("mqtt: disconnected", health);
        Assert.True(daemon.Stop(Harness.SIGTERM, TimeSpan.FromSeconds(20)));
        output.WriteLine(daemon.Log);
        Assert.Equal(0, daemon.Process.ExitCode);
        Assert.Contains($"mqtt://127.0.0.1:{deadPort}", daemon.Log);
        Assert.Contains("retrying with backoff", daemon.Log);
        Assert.Contains("stay in the outbox for the next start", daemon.Log);
        try { Directory.Delete(dir, true); } catch (IOException) { }
    }

    private static string Get(int port, string path)
    {
        try
        {
            using var c = new TcpClient("127.0.0.1", port);
            var s = c.GetStream();
            s.Write(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.0\r\n\r\n"));
            using var r = new StreamReader(s);
            return r.ReadToEnd();
        }
        catch (SocketException) { return ""; }
    }
}
