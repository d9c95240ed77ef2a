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
    public double FineTuneWeight = double.NaN; // the guard's served weight of the fine-tuned model (0 shipped .. 1 tuned)
    public long FineTuneUpdates, FineTuneRollbacks;
    public long LastCheckpointUnixMs;
    public long CheckpointFailures;
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
    public readonly long StartTicks = Environment.TickCount64;

    public string Render()
    {
        var sb = new StringBuilder(4096);
        var ci = CultureInfo.InvariantCulture;
        void Head(string name, string type, string help) => sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        void Per(string name, string type, string help, Func<StreamMetrics, double> f)
        {
            Head(name, type, help);
            foreach (var s in Streams) sb.Append(name).Append("{stream=\"").Append(s.Name).Append("\"} ").Append(Fmt(f(s))).Append('\n');
        }
        string Fmt(double d) => double.IsNaN(d) ? "NaN" : d.ToString("R", ci);
        double tickSec = 1.0 / System.Diagnostics.Stopwatch.Frequency;
        Per("edgernn_samples_total", "counter", "Samples received (frames good).", s => Interlocked.Read(ref s.Samples));
        Per("edgernn_bad_values_total", "counter", "Non-finite sensor values treated as missing.", s => Interlocked.Read(ref s.BadValues));
        Per("edgernn_gaps_total", "counter", "Gaps: a sample later than 2.5 sample periods after the previous.", s => Interlocked.Read(ref s.Gaps));
        Per("edgernn_clamped_timestamps_total", "counter", "Samples stamped far in the future or before 1970, re-stamped with their arrival time.", s => Interlocked.Read(ref s.ClampedTimestamps));
        Per("edgernn_forecasts_total", "counter", "Forecasts written to the outbox.", s => Interlocked.Read(ref s.Forecasts));
        Per("edgernn_step_seconds_sum", "counter", "Time spent in model steps.", s => Interlocked.Read(ref s.StepTicksSum) * tickSec);
        Per("edgernn_step_seconds_count", "counter", "Model steps timed.", s => Interlocked.Read(ref s.Samples));
        Per("edgernn_step_seconds_max", "gauge", "Longest model step.", s => Interlocked.Read(ref s.StepTicksMax) * tickSec);
        Per("edgernn_finetune_loss", "gauge", "Last online fine-tuning loss (NaN when off or not yet).", s => s.FineTuneLoss);
        Per("edgernn_finetune_weight", "gauge", "Weight the forecast gives the fine-tuned network against the shipped one (0..1; NaN when off).", s => s.FineTuneWeight);
        Per("edgernn_finetune_updates_total", "counter", "Online fine-tuning updates.", s => Interlocked.Read(ref s.FineTuneUpdates));
        Per("edgernn_finetune_rollbacks_total", "counter", "Online fine-tuning updates rolled back by the guardrails.", s => Interlocked.Read(ref s.FineTuneRollbacks));
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Per("edgernn_checkpoint_age_seconds", "gauge", "Seconds since the last good checkpoint (NaN: none yet).", s => { long t = Interlocked.Read(ref s.LastCheckpointUnixMs); return t == 0 ? double.NaN : (now - t) / 1000.0; });
        Per("edgernn_checkpoint_failures_total", "counter", "Checkpoints that could not be written.", s => Interlocked.Read(ref s.CheckpointFailures));
        if (SourceCounters is { } sc)
        {
            Head("edgernn_source_events_total", "counter", "Source counters (frames good/bad, bytes, gaps, reconnects) by source and name.");
            foreach (var kv in sc()) sb.Append("edgernn_source_events_total{counter=\"").Append(kv.Key).Append("\"} ").Append(kv.Value.ToString(ci)).Append('\n');
        }
        Head("edgernn_outbox_depth", "gauge", "Forecasts waiting for the broker's PUBACK.");
        sb.Append("edgernn_outbox_depth ").Append((Outbox?.Depth ?? 0).ToString(ci)).Append('\n');
        Head("edgernn_outbox_bytes", "gauge", "Bytes in the outbox spool.");
        sb.Append("edgernn_outbox_bytes ").Append((Outbox?.Bytes ?? 0).ToString(ci)).Append('\n');
        Head("edgernn_outbox_dropped_total", "counter", "Forecasts dropped because the outbox cap was hit.");
        sb.Append("edgernn_outbox_dropped_total ").Append((Outbox?.Dropped ?? 0).ToString(ci)).Append('\n');
        Head("edgernn_outbox_write_failures_total", "counter", "Forecasts dropped because the spool could not be written (disk full, read-only).");
        sb.Append("edgernn_outbox_write_failures_total ").Append((Outbox?.WriteFailures ?? 0).ToString(ci)).Append('\n');
        Head("edgernn_published_total", "counter", "Forecasts acknowledged by the broker.");
        sb.Append("edgernn_published_total ").Append(Interlocked.Read(ref Published).ToString(ci)).Append('\n');
        Head("edgernn_publish_failures_total", "counter", "Failed publishes and connection attempts.");
        sb.Append("edgernn_publish_failures_total ").Append(Interlocked.Read(ref PublishFailures).ToString(ci)).Append('\n');
        Head("edgernn_mqtt_reconnects_total", "counter", "Successful (re)connections to the broker.");
        sb.Append("edgernn_mqtt_reconnects_total ").Append(Interlocked.Read(ref Reconnects).ToString(ci)).Append('\n');
        Head("edgernn_mqtt_connected", "gauge", "1 while connected to the broker.");
        sb.Append("edgernn_mqtt_connected ").Append(Volatile.Read(ref Connected).ToString(ci)).Append('\n');
        Head("edgernn_uptime_seconds", "gauge", "Seconds since start.");
        sb.Append("edgernn_uptime_seconds ").Append(Fmt((Environment.TickCount64 - StartTicks) / 1000.0)).Append('\n');
        return sb.ToString();
    }
}

/// <summary>
/// A tiny HTTP/1.0 responder for /healthz and /metrics on a TCP port (no HttpListener: AOT-safe and small).
/// One request per connection, GET only, bounded request size, loopback by default.
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
                (int code, string body, string type) = (parts.Length >= 2 && parts[0] == "GET") switch
                {
                    false => (405, "method not allowed\n", "text/plain"),
                    true when path == "/metrics" => (200, _metrics.Render(), "text/plain; version=0.0.4; charset=utf-8"),
                    true when path == "/healthz" => Health(),
                    _ => (404, "not found: try /healthz or /metrics\n", "text/plain"),
                };
                byte[] bodyBytes = Encoding.UTF8.GetBytes(body);
                string reason = code switch { 200 => "OK", 404 => "Not Found", 405 => "Method Not Allowed", _ => "Service Unavailable" };
                string head = $"HTTP/1.0 {code} {reason}\r\nContent-Type: {type}\r\nContent-Length: {bodyBytes.Length}\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head), timeout.Token);
                await stream.WriteAsync(bodyBytes, timeout.Token);
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
