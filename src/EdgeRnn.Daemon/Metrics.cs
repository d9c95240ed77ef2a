using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace EdgeRnn.Daemon;

/// <summary>Per-stream counters, written by the stream's own source thread with Interlocked, read by the /metrics responder.</summary>
public sealed class StreamMetrics(string name)
{
    public string Name { get; } = name;
    public long Samples;
    public long BadValues;      // non-finite sensor values (NaN, inf) passed on as missing
    public long Gaps;           // samples arriving later than 2.5 sample periods after the previous one
    public long Forecasts;
    public long StepTicksSum;   // Stopwatch ticks spent in Observe
    public long StepTicksMax;
    public long LastSampleTicks; // Environment.TickCount64 of the last sample
    public long LastForecastTicks; // Environment.TickCount64 of the last forecast written to the outbox
    public long ClampedTimestamps; // samples stamped beyond now + tolerance (or before 1970), re-stamped with the arrival time
    public double FineTuneLoss = double.NaN;
    public double FineTuneWeight = double.NaN; // the aggregate's mean weight of the fine-tuned network (0..1)
    public double IntervalCoverage = double.NaN; // running fraction of forecast values inside their interval
    public long FineTuneUpdates, FineTuneRollbacks;
    /// <summary>The latest anomaly score (0..1; NaN: detector off) and the samples scored at or above the alert threshold.</summary>
    public double AnomalyScore = double.NaN;
    public long AnomalyAlerts;
    public long LastCheckpointUnixMs;
    public long CheckpointFailures;
    /// <summary>Targets, and per target the latest forecast for the next step and for the horizon end (NaN before the first).</summary>
    public string[] Targets = [];
    public float[] LatestNext = [], LatestEnd = [];
    /// <summary>Per target, rolling (EMA over ~100 scored steps) mean absolute one-step error of the model and of repeating the last value.</summary>
    public double[] MaeModel = [], MaeLastValue = [];

    public void SetTargets(IReadOnlyList<string> targets)
    {
        Targets = targets.ToArray();
        LatestNext = new float[Targets.Length]; Array.Fill(LatestNext, float.NaN);
        LatestEnd = new float[Targets.Length]; Array.Fill(LatestEnd, float.NaN);
        MaeModel = new double[Targets.Length]; Array.Fill(MaeModel, double.NaN);
        MaeLastValue = new double[Targets.Length]; Array.Fill(MaeLastValue, double.NaN);
    }
}

/// <summary>Process-wide counters and the Prometheus text rendering.</summary>
public sealed class DaemonMetrics
{
    public List<StreamMetrics> Streams { get; } = new();
    public long PublishFailures;
    public long Published;
    public long Reconnects;
    public int Connected;
    public Func<IReadOnlyDictionary<string, long>>? SourceCounters;
    public Outbox? Outbox;
    /// <summary>The groups of int8 streams stepped together (<see cref="SharedModelBatches"/>); none: no families.</summary>
    public IReadOnlyCollection<SharedModelBatch> SharedBatches = [];
    public readonly long StartTicks = Environment.TickCount64;

    /// <summary>Unix time the process started (process_start_time_seconds).</summary>
    public static readonly double ProcessStartUnixSeconds = ReadProcessStart();

    private static double ReadProcessStart()
    {
        try { return new DateTimeOffset(System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0; }
        catch (Exception e) when (e is InvalidOperationException or PlatformNotSupportedException or System.ComponentModel.Win32Exception)
        { return DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0; }
    }

    /// <summary>Resident set size in bytes (Linux: /proc/self/statm; elsewhere the working set).</summary>
    public static long ResidentBytes()
    {
        try
        {
            string[] f = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(f[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        { return Environment.WorkingSet; }
    }

    /// <summary>
    /// Prometheus text exposition (format 0.0.4): every family once, HELP then TYPE then its samples; one meaning per
    /// family and one dimension per label (stream, target, step, predictor).
    /// </summary>
    public string Render()
    {
        var sb = new StringBuilder(8192);
        var ci = CultureInfo.InvariantCulture;
        void Head(string name, string type, string help) => sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        void Sample(string name, string? labels, double v)
        {
            sb.Append(name);
            if (labels is not null) sb.Append('{').Append(labels).Append('}');
            sb.Append(' ').Append(Fmt(v)).Append('\n');
        }
        string L(string k, string v) => $"{k}=\"{Escape(v)}\"";
        void Per(string name, string type, string help, Func<StreamMetrics, double> f)
        {
            Head(name, type, help);
            foreach (var s in Streams) Sample(name, L("stream", s.Name), f(s));
        }
        string Fmt(double d) => double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "+Inf" : double.IsNegativeInfinity(d) ? "-Inf" : d.ToString("R", ci);
        double tickSec = 1.0 / System.Diagnostics.Stopwatch.Frequency;

        Head("edgernn_build_info", "gauge", "Build of this edgernn (always 1).");
        var asm = typeof(DaemonMetrics).Assembly;
        string info = asm.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false) is [System.Reflection.AssemblyInformationalVersionAttribute a, ..] ? a.InformationalVersion : "0";
        int plus = info.IndexOf('+');
        Sample("edgernn_build_info", $"{L("version", plus >= 0 ? info[..plus] : info)},{L("commit", plus >= 0 ? info[(plus + 1)..] : "")},{L("runtime", Environment.Version.ToString())}", 1);
        Head("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
        Sample("process_start_time_seconds", null, ProcessStartUnixSeconds);
        Head("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        Sample("process_resident_memory_bytes", null, ResidentBytes());

        Per("edgernn_samples_total", "counter", "Samples received (frames good).", s => Interlocked.Read(ref s.Samples));
        Per("edgernn_bad_values_total", "counter", "Non-finite sensor values treated as missing.", s => Interlocked.Read(ref s.BadValues));
        Per("edgernn_gaps_total", "counter", "Gaps: a sample later than 2.5 sample periods after the previous.", s => Interlocked.Read(ref s.Gaps));
        Per("edgernn_clamped_timestamps_total", "counter", "Samples stamped far in the future or before 1970, re-stamped with their arrival time.", s => Interlocked.Read(ref s.ClampedTimestamps));
        Per("edgernn_forecasts_total", "counter", "Forecasts written to the outbox.", s => Interlocked.Read(ref s.Forecasts));
        Head("edgernn_step_seconds", "summary", "Time spent in one model step (observe + forecast).");
        foreach (var s in Streams)
        {
            Sample("edgernn_step_seconds_sum", L("stream", s.Name), Interlocked.Read(ref s.StepTicksSum) * tickSec);
            Sample("edgernn_step_seconds_count", L("stream", s.Name), Interlocked.Read(ref s.Samples));
        }
        Per("edgernn_step_max_seconds", "gauge", "Longest model step since start.", s => Interlocked.Read(ref s.StepTicksMax) * tickSec);
        Head("edgernn_forecast", "gauge", "Latest forecast per target, for the next step and for the horizon end (raw units; NaN before the first).");
        foreach (var s in Streams)
            for (int t = 0; t < s.Targets.Length; t++)
            {
                Sample("edgernn_forecast", $"{L("stream", s.Name)},{L("target", s.Targets[t])},{L("step", "next")}", Volatile.Read(ref s.LatestNext[t]));
                Sample("edgernn_forecast", $"{L("stream", s.Name)},{L("target", s.Targets[t])},{L("step", "horizon_end")}", Volatile.Read(ref s.LatestEnd[t]));
            }
        Head("edgernn_forecast_abs_error", "gauge", "Rolling mean absolute one-step-ahead error (EMA over ~100 steps) of the model and of repeating the last value.");
        foreach (var s in Streams)
            for (int t = 0; t < s.Targets.Length; t++)
            {
                Sample("edgernn_forecast_abs_error", $"{L("stream", s.Name)},{L("target", s.Targets[t])},{L("predictor", "model")}", Volatile.Read(ref s.MaeModel[t]));
                Sample("edgernn_forecast_abs_error", $"{L("stream", s.Name)},{L("target", s.Targets[t])},{L("predictor", "last_value")}", Volatile.Read(ref s.MaeLastValue[t]));
            }
        Per("edgernn_finetune_loss", "gauge", "Last online fine-tuning loss (NaN when off or not yet).", s => s.FineTuneLoss);
        Per("edgernn_finetune_weight", "gauge", "Mean weight the online aggregate gives the fine-tuned network (0..1; NaN when off).", s => s.FineTuneWeight);
        Per("edgernn_interval_coverage", "gauge", "Running fraction of forecast values that fell inside their prediction interval (NaN: none scored yet).", s => s.IntervalCoverage);
        Per("edgernn_anomaly_score", "gauge", "Latest anomaly score of the stream's samples (0..1, the highest over its targets; NaN when off).", s => Volatile.Read(ref s.AnomalyScore));
        Per("edgernn_anomaly_alerts_total", "counter", "Samples whose anomaly score reached the alert threshold.", s => Interlocked.Read(ref s.AnomalyAlerts));
        Per("edgernn_finetune_updates_total", "counter", "Online fine-tuning updates.", s => Interlocked.Read(ref s.FineTuneUpdates));
        Per("edgernn_finetune_rollbacks_total", "counter", "Online fine-tuning updates rolled back by the guardrails.", s => Interlocked.Read(ref s.FineTuneRollbacks));
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Per("edgernn_checkpoint_age_seconds", "gauge", "Seconds since the last good checkpoint (NaN: none yet).", s => { long t = Interlocked.Read(ref s.LastCheckpointUnixMs); return t == 0 ? double.NaN : (now - t) / 1000.0; });
        Per("edgernn_checkpoint_failures_total", "counter", "Checkpoints that could not be written.", s => Interlocked.Read(ref s.CheckpointFailures));
        if (SourceCounters is { } sc)
        {
            // "stream:counter" → one family per counter (bytes, frames, bad rows... never mixed in one label), labelled by stream
            var families = new SortedDictionary<string, List<(string Stream, long Value)>>(StringComparer.Ordinal);
            foreach (var kv in sc())
            {
                int colon = kv.Key.IndexOf(':');
                string stream = colon >= 0 ? kv.Key[..colon] : "";
                string counter = MetricName(colon >= 0 ? kv.Key[(colon + 1)..] : kv.Key);
                if (!families.TryGetValue(counter, out var list)) families[counter] = list = new();
                list.Add((stream, kv.Value));
            }
            foreach (var (counter, list) in families)
            {
                string name = $"edgernn_source_{counter}{(counter.EndsWith("_total", StringComparison.Ordinal) ? "" : "_total")}";
                Head(name, "counter", $"Source counter '{counter}' per stream.");
                foreach (var (stream, v) in list) Sample(name, L("stream", stream), v);
            }
        }
        if (SharedBatches.Count > 0)
        {
            // read once per group (under its combiner lock), so the three families of one scrape agree
            var counters = SharedBatches.Select(b => (Model: L("model", b.ModelPath), C: b.Counters)).ToArray();
            Head("edgernn_shared_batch_steps_total", "counter", "Batch steps of a model's shared int8 network (one matrix product per layer for every stream with a sample ready).");
            foreach (var (m, c) in counters) Sample("edgernn_shared_batch_steps_total", m, c.Batches);
            Head("edgernn_shared_batch_stream_steps_total", "counter", "Stream-steps done in those batch steps (divided by the batch steps: the mean batch size).");
            foreach (var (m, c) in counters) Sample("edgernn_shared_batch_stream_steps_total", m, c.StreamSteps);
            Head("edgernn_shared_batch_largest", "gauge", "Most streams one batch step has held since start.");
            foreach (var (m, c) in counters) Sample("edgernn_shared_batch_largest", m, c.Largest);
        }
        Head("edgernn_outbox_depth", "gauge", "Forecasts waiting for the broker's PUBACK.");
        Sample("edgernn_outbox_depth", null, Outbox?.Depth ?? 0);
        Head("edgernn_outbox_bytes", "gauge", "Bytes in the outbox spool.");
        Sample("edgernn_outbox_bytes", null, Outbox?.Bytes ?? 0);
        Head("edgernn_outbox_dropped_total", "counter", "Forecasts dropped because the outbox cap was hit.");
        Sample("edgernn_outbox_dropped_total", null, Outbox?.Dropped ?? 0);
        Head("edgernn_outbox_write_failures_total", "counter", "Forecasts dropped because the spool could not be written (disk full, read-only).");
        Sample("edgernn_outbox_write_failures_total", null, Outbox?.WriteFailures ?? 0);
        Head("edgernn_published_total", "counter", "Forecasts acknowledged by the broker.");
        Sample("edgernn_published_total", null, Interlocked.Read(ref Published));
        Head("edgernn_publish_failures_total", "counter", "Failed publishes and connection attempts.");
        Sample("edgernn_publish_failures_total", null, Interlocked.Read(ref PublishFailures));
        Head("edgernn_mqtt_reconnects_total", "counter", "Successful (re)connections to the broker.");
        Sample("edgernn_mqtt_reconnects_total", null, Interlocked.Read(ref Reconnects));
        Head("edgernn_mqtt_connected", "gauge", "1 while connected to the broker.");
        Sample("edgernn_mqtt_connected", null, Volatile.Read(ref Connected));
        Head("edgernn_uptime_seconds", "gauge", "Seconds since start.");
        Sample("edgernn_uptime_seconds", null, (Environment.TickCount64 - StartTicks) / 1000.0);
        return sb.ToString();
    }

    /// <summary>Label values escape backslash, double quote and newline (text format 0.0.4).</summary>
    private static string Escape(string v) => v.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string MetricName(string s)
    {
        var chars = s.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_').ToArray();
        return chars.Length == 0 ? "unnamed" : new string(chars);
    }
}

/// <summary>
/// A tiny HTTP/1.0 responder for /healthz and /metrics on a TCP port (no HttpListener: AOT-safe and small).
/// One request per connection, GET and HEAD, bounded request size, loopback by default.
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly DaemonMetrics _metrics;
    private readonly Func<(bool Healthy, string Detail)> _health;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _cts = new();
    private Task? _loop;

    public MetricsServer(IPEndPoint endpoint, DaemonMetrics metrics, Func<(bool, string)> health, ILogger log)
    {
        _listener = new TcpListener(endpoint);
        _metrics = metrics;
        _health = health;
        _log = log;
    }

    public IPEndPoint LocalEndpoint => (IPEndPoint)_listener.LocalEndpoint;

    public void Start()
    {
        _listener.Start();
        _loop = Task.Run(AcceptLoop);
    }

    private async Task AcceptLoop()
    {
        while (!_cts.IsCancellationRequested)
        {
            TcpClient c;
            try { c = await _listener.AcceptTcpClientAsync(_cts.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e) { _log.LogWarning("metrics accept failed: {Error}", e.Message); continue; }
            _ = Task.Run(() => Serve(c));
        }
    }

    private async Task Serve(TcpClient client)
    {
        using (client)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                var stream = client.GetStream();
                var buf = new byte[4096];
                int n = 0;
                while (n < buf.Length)
                {
                    int r = await stream.ReadAsync(buf.AsMemory(n), timeout.Token);
                    if (r == 0) break;
                    n += r;
                    if (buf.AsSpan(0, n).IndexOf("\r\n\r\n"u8) >= 0 || buf.AsSpan(0, n).IndexOf("\n\n"u8) >= 0) break;
                }
                string req = Encoding.ASCII.GetString(buf, 0, n);
                int eol = req.IndexOf('\n');
                string[] parts = (eol >= 0 ? req[..eol] : req).Trim().Split(' ');
                string path = parts.Length >= 2 ? parts[1] : "";
                int q = path.IndexOf('?');
                if (q >= 0) path = path[..q];
                bool head = parts.Length >= 2 && parts[0] == "HEAD";
                (int code, string body, string type) = (parts.Length >= 2 && parts[0] is "GET" or "HEAD") switch
                {
                    false => (405, "method not allowed\n", "text/plain"),
                    true when path == "/metrics" => (200, _metrics.Render(), "text/plain; version=0.0.4; charset=utf-8"),
                    true when path == "/healthz" => Health(),
                    _ => (404, "not found: try /healthz or /metrics\n", "text/plain"),
                };
                byte[] bodyBytes = Encoding.UTF8.GetBytes(body);
                string reason = code switch { 200 => "OK", 404 => "Not Found", 405 => "Method Not Allowed", _ => "Service Unavailable" };
                string headers = $"HTTP/1.0 {code} {reason}\r\nContent-Type: {type}\r\nContent-Length: {bodyBytes.Length}\r\n{(code == 405 ? "Allow: GET, HEAD\r\n" : "")}Connection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(headers), timeout.Token);
                if (!head) await stream.WriteAsync(bodyBytes, timeout.Token); // HEAD: the headers (and length) alone
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException) { }
        }
    }

    private (int, string, string) Health()
    {
        var (ok, detail) = _health();
        // a first detail line "degraded: ..." keeps 200 (the service works, something needs a look) but says so
        string status = !ok ? "unhealthy\n" : detail.StartsWith("degraded", StringComparison.Ordinal) ? "" : "ok\n";
        return (ok ? 200 : 503, status + detail, "text/plain");
    }

    public async ValueTask DisposeAsync()
    {
        _cts.Cancel();
        _listener.Stop();
        if (_loop is not null) await _loop;
        _cts.Dispose();
    }
}
