using System.Diagnostics;
using System.IO.Ports;
using EdgeRnn.Ingest.Bridge;

namespace EdgeRnn.Ingest;

/// <summary>Settings of a <see cref="SerialSource"/>; <see cref="FromSpec"/> fills them from <c>serial:PATH@BAUD,8N1</c>.</summary>
public sealed record SerialSettings(string Path)
{
    public int BaudRate { get; init; } = 115200;
    public int DataBits { get; init; } = 8;
    public Parity Parity { get; init; } = Parity.None;
    public StopBits StopBits { get; init; } = StopBits.One;
    /// <summary>Blocking read timeout; bounds how quickly cancellation and a vanished path are noticed.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>No byte at all for this long (the device sends a heartbeat every second) means the device is gone.</summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromSeconds(3);
    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Status lines (connected, lost, errors, warnings); null for silence.</summary>
    public Action<string>? Log { get; init; }

    public static SerialSettings FromSpec(SourceSpec spec) => spec.Kind != SourceKind.Serial
        ? throw new ArgumentException($"{spec} is not a serial source")
        : new SerialSettings(spec.Target) { BaudRate = spec.BaudRate, DataBits = spec.DataBits, Parity = spec.Parity, StopBits = spec.StopBits };
}

/// <summary>A serial port that cannot be opened, with a message that says what to do.</summary>
public sealed class SerialDeviceException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// Frames from a microcontroller running firmware-bridge, over System.IO.Ports. One dedicated thread does blocking reads
/// with a timeout (BaseStream.ReadAsync ignores ReadTimeout and often cancellation on Linux, and DataReceived can fire
/// twice), decodes, and hands samples to the sink. A vanished device (read exception, no byte for
/// <see cref="SerialSettings.StaleAfter"/>, or the path gone or pointing elsewhere) closes the port and reopens it with
/// backoff, forever, until cancelled. The symlink (e.g. /dev/serial/by-id/...) is resolved on every open.
/// </summary>
public sealed class SerialSource : ISampleSource, IFrameHandler
{
    private readonly SerialSettings _settings;
    private readonly FrameDecoder _decoder = new();
    private readonly float[] _values = new float[Protocol.MaxChannels];
    private ISampleSink? _sink;
    private Thread? _thread;
    private CancellationTokenSource? _cts;
    private string[] _channels = [];
    private long _timeOffset;
    private bool _anchored;
    private long _restartsSeen;
    private long _reconnects, _openFailures, _samples, _disconnects;
    private volatile string? _lastError;
    private volatile string? _warning;

    public SerialSource(SerialSettings settings) => _settings = settings;

    public string Description => $"serial:{_settings.Path}@{_settings.BaudRate}";
    public IReadOnlyList<string> Channels => _channels;
    public HelloInfo? Device { get; private set; }
    /// <summary>The last open or read error, as shown to the user (null while healthy).</summary>
    public string? LastError => _lastError;
    /// <summary>A current warning such as a possible baud-rate mismatch (null when none).</summary>
    public string? Warning => _warning;
    public bool Connected { get; private set; }

    public IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["bytes"] = _decoder.Bytes,
        ["frames"] = _decoder.Frames,
        ["bad_frames"] = _decoder.BadFrames,
        ["crc_errors"] = _decoder.CrcErrors,
        ["malformed"] = _decoder.Malformed,
        ["oversized"] = _decoder.Oversized,
        ["lost_frames"] = _decoder.LostFrames,
        ["device_restarts"] = _decoder.DeviceRestarts,
        ["samples"] = Interlocked.Read(ref _samples),
        ["disconnects"] = Interlocked.Read(ref _disconnects),
        ["reconnects"] = Interlocked.Read(ref _reconnects),
        ["open_failures"] = Interlocked.Read(ref _openFailures),
    };

    public Task RunAsync(ISampleSink sink, CancellationToken cancellationToken)
    {
        if (_thread is not null) throw new InvalidOperationException("a SerialSource runs once");
        _sink = sink;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        CancellationToken ct = _cts.Token;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _thread = new Thread(() =>
        {
            try { ReadLoop(ct); done.SetResult(); }
            catch (Exception e) { done.SetException(e); }
        })
        { IsBackground = true, Name = "serial " + _settings.Path };
        _thread.Start();
        return done.Task;
    }

    /// <summary>Resolves symlinks and opens the port, or throws a <see cref="SerialDeviceException"/> that says what to do.</summary>
    public static SerialPort Open(SerialSettings s, out string resolvedPath)
    {
        resolvedPath = Resolve(s.Path);
        if (!File.Exists(resolvedPath))
            throw new SerialDeviceException(resolvedPath == s.Path
                ? $"serial device '{s.Path}' does not exist: is it plugged in? (ls /dev/serial/by-id/ lists attached devices)"
                : $"serial device '{s.Path}' points to '{resolvedPath}', which does not exist: is it plugged in?");
        var port = new SerialPort(resolvedPath, s.BaudRate, s.Parity, s.DataBits, s.StopBits)
        {
            Handshake = Handshake.None,
            ReadTimeout = (int)s.ReadTimeout.TotalMilliseconds,
            WriteTimeout = 1000,
            ReadBufferSize = 64 * 1024,
        };
        try
        {
            port.Open();
            return port;
        }
        catch (Exception e)
        {
            port.Dispose();
            throw Describe(s.Path, e);
        }
    }

    /// <summary>Turns an exception from opening a port into a message a user can act on.</summary>
    public static SerialDeviceException Describe(string path, Exception e) => e switch
    {
        SerialDeviceException sde => sde,
        UnauthorizedAccessException or IOException when e is UnauthorizedAccessException || e.Message.Contains("ermission denied", StringComparison.Ordinal) =>
            new SerialDeviceException(
                $"permission denied opening serial device '{path}': add your user to the dialout group " +
                "(sudo usermod -aG dialout $USER, then log out and in again)", e),
        FileNotFoundException or DirectoryNotFoundException =>
            new SerialDeviceException($"serial device '{path}' does not exist: is it plugged in?", e),
        _ => new SerialDeviceException($"cannot open serial device '{path}': {e.Message}", e),
    };

    private static string Resolve(string path)
    {
        try
        {
            var fi = new FileInfo(path);
            return fi.LinkTarget is null ? fi.FullName : fi.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? fi.FullName;
        }
        catch (IOException) { return path; }
    }

    private void Report(string message) => _settings.Log?.Invoke($"{Description}: {message}");

    private void ReadLoop(CancellationToken ct)
    {
        byte[] buffer = new byte[4096];
        TimeSpan delay = _settings.ReconnectMin;
        bool everConnected = false;
        while (!ct.IsCancellationRequested)
        {
            SerialPort? port = null;
            try
            {
                port = Open(_settings, out string resolved);
                if (everConnected) Interlocked.Increment(ref _reconnects);
                everConnected = true;
                Connected = true;
                _lastError = null;
                _anchored = false;
                _decoder.ResetStream();
                Report($"connected ({resolved})");
                Pump(port, resolved, buffer, ref delay, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                if (Connected)
                {
                    Interlocked.Increment(ref _disconnects);
                    string msg = e is SerialDeviceException ? e.Message : $"device lost: {e.Message}";
                    _lastError = msg;
                    Report(msg);
                }
                else
                {
                    Interlocked.Increment(ref _openFailures);
                    string msg = e is SerialDeviceException ? e.Message : Describe(_settings.Path, e).Message;
                    if (msg != _lastError) Report(msg + $" (retrying every {_settings.ReconnectMax.TotalSeconds:0.#} s)");
                    _lastError = msg;
                }
            }
            catch (Exception) { /* cancelled mid-read: fall through to close */ }
            finally
            {
                Connected = false;
                port?.Dispose();
            }
            if (ct.WaitHandle.WaitOne(delay)) break;
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _settings.ReconnectMax.Ticks));
        }
    }

    private void Pump(SerialPort port, string resolved, byte[] buffer, ref TimeSpan delay, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        long lastByteMs = 0, lastPathCheckMs = 0, windowStartMs = 0;
        long windowBad = _decoder.BadFrames, windowFrames = _decoder.Frames;
        while (!ct.IsCancellationRequested)
        {
            int n;
            try { n = port.Read(buffer, 0, buffer.Length); }
            catch (TimeoutException) { n = 0; }
            long now = clock.ElapsedMilliseconds;
            if (n > 0)
            {
                lastByteMs = now;
                _decoder.Push(buffer.AsSpan(0, n), this);
            }
            else if (now - lastByteMs > _settings.StaleAfter.TotalMilliseconds)
                throw new IOException($"no data for {_settings.StaleAfter.TotalSeconds:0.#} s (the device sends a heartbeat every second)");

            if (now - lastPathCheckMs >= 250)
            {
                // a USB serial device that was unplugged leaves the open fd readable-with-error or silent; the path tells sooner
                lastPathCheckMs = now;
                if (!File.Exists(resolved) || Resolve(_settings.Path) != resolved)
                    throw new IOException($"'{_settings.Path}' vanished");
            }
            if (now - windowStartMs >= 1000)
            {
                long bad = _decoder.BadFrames - windowBad, good = _decoder.Frames - windowFrames;
                string? warning = bad >= 3 && good == 0
                    ? $"possible baud-rate mismatch: {bad} bad frames and no valid frame in the last second at {_settings.BaudRate} baud; check the device's baud rate"
                    : null;
                if (warning is not null && _warning is null) Report(warning);
                _warning = warning;
                if (good > 0) delay = _settings.ReconnectMin; // healthy again: next loss retries quickly
                windowStartMs = now;
                windowBad = _decoder.BadFrames;
                windowFrames = _decoder.Frames;
            }
        }
    }

    void IFrameHandler.OnFrame(in Frame frame)
    {
        if (_decoder.DeviceRestarts != _restartsSeen)
        {
            _restartsSeen = _decoder.DeviceRestarts;
            _anchored = false;
        }
        switch (frame.Type)
        {
            case FrameType.Hello:
                if (HelloInfo.TryParse(frame.Body, out var hello))
                {
                    if (Device is null || !Device.ChannelNames.SequenceEqual(hello!.ChannelNames)) _channels = [.. hello!.ChannelNames];
                    Device = hello;
                }
                break;
            case FrameType.DataF32:
            case FrameType.DataI16:
            {
                int n = frame.Count;
                if (n > _values.Length) return;
                if (_channels.Length != n && Device is null) _channels = Enumerable.Range(0, n).Select(i => "ch" + i).ToArray();
                for (int i = 0; i < n; i++) _values[i] = frame.Value(i);
                long nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                if (!_anchored)
                {
                    // device clock → Unix time, anchored at the first data frame after each (re)connect or device restart
                    _timeOffset = nowMs - frame.DeviceTime64;
                    _anchored = true;
                }
                Interlocked.Increment(ref _samples);
                _sink!.OnSample(_settings.Path, _timeOffset + frame.DeviceTime64, _values.AsSpan(0, n));
                break;
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        // the read loop notices within one read timeout and closes the port itself
        _cts?.Cancel();
        _thread?.Join();
        _cts?.Dispose();
        return ValueTask.CompletedTask;
    }
}
