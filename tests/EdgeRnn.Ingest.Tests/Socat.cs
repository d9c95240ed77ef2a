using System.Diagnostics;


namespace EdgeRnn.Ingest.Tests;

/// <summary>A socat pty pair with stable link names (dir/a, dir/b); Kill() simulates an unplug, Start() a replug.</summary>
internal sealed class Socat : IDisposable
{
    private Process? _process;
    public string A { get; }
    public string B { get; }

    public Socat(string dir)
    {
        A = Path.Combine(dir, "a");
        B = Path.Combine(dir, "b");
        Start();
    }

    public void Start()
    {
        var psi = new ProcessStartInfo("socat")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { "-d", "-d", $"pty,raw,echo=0,link={A}", $"pty,raw,echo=0,link={B}" }) psi.ArgumentList.Add(a);
        var ready = new ManualResetEventSlim();
        _process = Process.Start(psi) ?? throw new InvalidOperationException("socat did not start");
        // socat logs "starting data transfer loop" once both ptys and both links exist
        _process.ErrorDataReceived += (_, e) => { if (e.Data?.Contains("starting data transfer loop", StringComparison.Ordinal) == true) ready.Set(); };
        _process.BeginErrorReadLine();
        if (!ready.Wait(TimeSpan.FromSeconds(5))) { Kill(); throw new InvalidOperationException("socat did not set up the pty pair"); }
    }


    /// <summary>SIGKILL: the ptys vanish at once (the links stay, dangling, like a stale by-id name).</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process?.Dispose();
        _process = null;
    }

    public void Dispose() => Kill();
}
