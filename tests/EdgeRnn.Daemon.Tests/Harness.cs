using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using EdgeRnn.Ingest.Bridge;

namespace EdgeRnn.Daemon.Tests;

/// <summary>Paths, the built CLI, a small real model trained by it, and process helpers shared by the end-to-end tests.</summary>
public static partial class Harness
{
    private static readonly Lazy<string> RootLazy = new(() =>
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "EdgeRnn.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("cannot find the repository root (EdgeRnn.sln) above " + AppContext.BaseDirectory);
    });
    public static string Root => RootLazy.Value;

    private static readonly Lazy<string> CliLazy = new(() =>
    {
        string dll = Path.Combine(Root, "src/EdgeRnn.Cli/bin/Release/net10.0/edgernn.dll");
        // dotnet test EdgeRnn.sln builds the CLI first; a lone test run builds it here
        var (code, output) = RunToEnd("dotnet", ["build", Path.Combine(Root, "src/EdgeRnn.Cli"), "-c", "Release", "-v", "q", "--nologo"], TimeSpan.FromMinutes(8));
        if (code != 0 || !File.Exists(dll)) throw new InvalidOperationException("building the CLI failed:\n" + output);
        return dll;
    });
    public static string CliDll => CliLazy.Value;

    private static readonly Lazy<string> ModelLazy = new(() =>
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-e2e-model-").FullName;
        string model = Path.Combine(dir, "machine_temp_e2e.safetensors");
        var (code, output) = RunToEnd("dotnet", [CliDll, "train", "--data", Path.Combine(Root, "models/data/nab/machine_temperature_system_failure.csv"),
            "--target", "value", "--horizon", "6", "--out", model, "--arch", "lstm", "--hidden", "16", "--epochs", "1", "--rows", "3000", "--lookback", "24", "--name", "machine_temp_e2e"], TimeSpan.FromMinutes(3));
        if (code != 0) throw new InvalidOperationException("edgernn train failed:\n" + output);
        return model;
    });
    /// <summary>A real LSTM forecaster trained by `edgernn train` on the bundled NAB series (look-back 24, horizon 6).</summary>
    public static string Model => ModelLazy.Value;

    public static (int Code, string Output) RunToEnd(string exe, string[] args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout)) { p.Kill(true); throw new TimeoutException($"{exe} {string.Join(' ', args)} did not finish in {timeout}"); }
        return (p.ExitCode, o.Result + e.Result);
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int p = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int SysKill(int pid, int sig);
    public const int SIGKILL = 9, SIGTERM = 15;
    public static void Signal(Process p, int sig) { if (!p.HasExited) _ = SysKill(p.Id, sig); }

    public static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) throw new TimeoutException($"timed out after {timeout.TotalSeconds:F0}s waiting for {what}");
            await Task.Delay(50);
        }
    }
}

/// <summary>A child process whose output is collected line by line.</summary>
public sealed class Child : IDisposable
{
    private readonly StringBuilder _log = new();
    public Process Process { get; }
    public string Name { get; }

    public Child(string name, string exe, IEnumerable<string> args, IDictionary<string, string>? env = null)
    {
        Name = name;
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
        Process = new Process { StartInfo = psi };
        Process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        Process.Start();
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    public string Log { get { lock (_log) return _log.ToString(); } }

    public bool Stop(int signal, TimeSpan timeout)
    {
        Harness.Signal(Process, signal);
        if (!Process.WaitForExit(timeout)) return false;
        Process.WaitForExit(); // with redirected output, only this one waits for the last lines to be read
        return true;
    }

    public void Dispose()
    {
        try { if (!Process.HasExited) { Process.Kill(true); Process.WaitForExit(5000); } } catch (InvalidOperationException) { }
        Process.Dispose();
    }
}

/// <summary>A real mosquitto on a loopback port with persistence in a temp dir; restartable on the same port and store.</summary>
public sealed class Mosquitto : IDisposable
{
    private readonly string _conf;
    private Child? _child;
    public int Port { get; } = Harness.FreePort();
    public string Dir { get; }

    public Mosquitto(string dir)
    {
        Dir = dir;
        Directory.CreateDirectory(dir);
        // mosquitto started as root drops to its own user unless told otherwise: it must be able to write its store here
        _conf = Path.Combine(dir, "mosquitto.conf");
        File.WriteAllText(_conf, $"""
            listener {Port} 127.0.0.1
            allow_anonymous true
            user {(Environment.UserName == "root" ? "root" : Environment.UserName)}
            persistence true
            persistence_location {dir}/
            autosave_interval 1
            max_queued_messages 100000
            log_dest stdout
            """ + "\n");
    }

    public async Task StartAsync()
    {
        _child = new Child("mosquitto", "mosquitto", ["-c", _conf]);
        await Harness.WaitUntil(() =>
        {
            if (_child.Process.HasExited) throw new InvalidOperationException("mosquitto exited: " + _child.Log);
            try { using var c = new TcpClient(); c.Connect(IPAddress.Loopback, Port); return true; } catch (SocketException) { return false; }
        }, TimeSpan.FromSeconds(10), "mosquitto to listen");
    }

    /// <summary>SIGTERM: mosquitto writes its store (sessions, queued QoS 1 messages) on the way down, as on a service restart.</summary>
    public void Stop()
    {
        if (_child is null) return;
        if (!_child.Stop(Harness.SIGTERM, TimeSpan.FromSeconds(10))) throw new InvalidOperationException("mosquitto did not stop");
        _child.Dispose();
        _child = null;
    }

    public void Dispose() { _child?.Dispose(); }
}

/// <summary>A socat pty pair: the daemon opens one end as a serial device, the test writes firmware-bridge frames into the other.</summary>
public sealed class PtyPair : IDisposable
{
    private readonly Child _socat;
    public string DaemonEnd { get; }
    public string SensorEnd { get; }

    public PtyPair(string dir)
    {
        DaemonEnd = Path.Combine(dir, "ttyDaemon");
        SensorEnd = Path.Combine(dir, "ttySensor");
        _socat = new Child("socat", "socat", ["-d", $"pty,raw,echo=0,link={DaemonEnd}", $"pty,raw,echo=0,link={SensorEnd}"]);
    }

    public Task WaitReadyAsync() => Harness.WaitUntil(() => File.Exists(DaemonEnd) && File.Exists(SensorEnd), TimeSpan.FromSeconds(10), "socat ptys");

    public void Dispose() => _socat.Dispose();
}

/// <summary>
/// A microcontroller stand-in: writes firmware-bridge frames (hello, then f32 data) of the bundled NAB series into a pty at
/// a fixed rate, re-announcing itself every 50 frames as the firmware does (so a restarted daemon learns the channels).
/// </summary>
public sealed class SensorWriter : IAsyncDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _task;
    public long Written;

    public SensorWriter(string pty, double rateHz)
    {
        float[] series = File.ReadLines(Path.Combine(Harness.Root, "models/data/nab/machine_temperature_system_failure.csv")).Skip(1)
            .Select(l => float.Parse(l[(l.IndexOf(',') + 1)..], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        _task = Task.Run(async () =>
        {
            using var fs = new FileStream(pty, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
            var enc = new FrameEncoder();
            var buf = new byte[Protocol.MaxWire * 2];
            uint periodUs = (uint)(1e6 / rateHz);
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1 / rateHz));
            long i = 0;
            while (await timer.WaitForNextTickAsync(_cts.Token))
            {
                uint t = (uint)(i * periodUs / 1000);
                if (i % 50 == 0)
                {
                    int hn = enc.Hello(t, "e2e-sensor", periodUs, ["value"], ["degF"], buf);
                    fs.Write(buf, 0, hn);
                }
                int n = enc.DataF32(t, [series[(int)(i % series.Length)]], buf);
                fs.Write(buf, 0, n);
                fs.Flush();
                i++;
                Interlocked.Exchange(ref Written, i);
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        _cts.Cancel();
        try { await _task; } catch (OperationCanceledException) { }
        _cts.Dispose();
    }
}
