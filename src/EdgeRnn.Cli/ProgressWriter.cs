namespace EdgeRnn.Cli;

/// <summary>
/// Progress output that fits where it goes. On a terminal, "\r"-redrawn progress bars pass through. Anywhere else
/// (journald, CI logs, a file) a redraw becomes a plain line, at most one per <see cref="Every"/> (and the last one before
/// any ordinary line), so a log holds readable lines instead of one long line of carriage returns per epoch.
/// </summary>
public sealed class ProgressWriter(TextWriter inner, bool terminal) : TextWriter
{
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(10);
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private TimeSpan _last = -Every;
    private string? _pending;

    /// <summary>Standard error, as a progress writer for whether it is a terminal.</summary>
    public static ProgressWriter StdErr() => new(Console.Error, !Console.IsErrorRedirected);

    public override System.Text.Encoding Encoding => inner.Encoding;

    public override void Write(string? value)
    {
        if (terminal || value is null || !value.StartsWith('\r')) { FlushPending(); inner.Write(value); return; }
        string line = value.TrimStart('\r');
        if (_clock.Elapsed - _last >= Every)
        {
            _last = _clock.Elapsed;
            _pending = null;
            inner.WriteLine(line);
        }
        else _pending = line;
    }

    public override void WriteLine(string? value) { FlushPending(); inner.WriteLine(value); }

    public override void Write(char value) => Write(value.ToString());

    /// <summary>Before ordinary text, the last suppressed redraw (the epoch's final bar) is written, completed by that text as on a terminal.</summary>
    private void FlushPending()
    {
        if (_pending is null) return;
        string p = _pending;
        _pending = null;
        inner.Write(p);
    }

    public override void Flush() => inner.Flush();
}
