using EdgeRnn.Ingest;

namespace EdgeRnn.Daemon;

/// <summary>Turns a stream's source spec (serial:/dev/ttyUSB0@115200, csv:path, stdin, mqtt:topic/#) into an Ingest source.</summary>
public static class Sources
{
    /// <param name="broker">the broker of mqtt: sources (<see cref="DaemonSettings.SourceMqtt"/>: its credentials and TLS too)</param>
    /// <param name="channels">the model's input channels: CSV columns and MQTT JSON fields are read in this order</param>
    public static ISampleSource Create(ResolvedStream stream, MqttSettings? broker, IReadOnlyList<string>? channels, Action<string>? log = null) =>
        SourceFactory.Create(SourceSpec.Parse(stream.Source), new SourceOptions
        {
            MqttHost = broker?.Host ?? "localhost",
            MqttPort = broker?.Port ?? 1883,
            MqttUsername = broker?.Username,
            MqttPassword = broker?.Password,
            MqttTls = broker?.Tls ?? false,
            MqttCaFile = broker?.CaFile,
            MqttCertFile = broker?.CertFile,
            MqttKeyFile = broker?.KeyFile,
            MqttFields = stream.Field,
            Channels = channels,
            CsvRateHz = stream.CsvRateHz,
            CsvId = stream.Id,
            CsvIdColumn = stream.IdColumn,
            Log = log,
        });

    /// <summary>One warm-start history row: its time (null when the CSV has no time column) and its values in model input order.</summary>
    public readonly record struct HistoryRow(long? TimestampMs, float[] Values);

    /// <summary>
    /// Warm start: the last <paramref name="keep"/> readable rows of the stream's history CSV (<see cref="ResolvedStream.WarmStart"/>),
    /// columns in the model's input order, long format by the stream's Id; bad rows are reported and skipped.
    /// </summary>
    public static List<HistoryRow> ReadHistory(ResolvedStream stream, IReadOnlyList<string> channels, int keep, Action<string>? log = null)
    {
        string path = stream.WarmStart ?? throw new InvalidOperationException("no WarmStart file");
        using var r = new CsvReader(new StreamReader(path), path, channels, format: new CsvFormat { Id = stream.Id, IdColumn = stream.IdColumn, OnBadRow = log });
        var ring = new Queue<HistoryRow>(keep + 1);
        var v = new float[channels.Count];
        bool timed = r.TimestampColumn is not null;
        while (r.Read(out long ts, v))
        {
            ring.Enqueue(new HistoryRow(timed ? ts : null, (float[])v.Clone()));
            if (ring.Count > keep) ring.Dequeue();
        }
        return ring.ToList();
    }

    /// <summary>True when the stream's warm start is an MQTT topic (<c>mqtt:TOPIC</c>) rather than a CSV file.</summary>
    public static bool IsMqttWarmStart(string? warmStart) => warmStart is not null && warmStart.StartsWith("mqtt:", StringComparison.Ordinal);

    /// <summary>
    /// Warm start from MQTT: subscribes to the topic (filter) the user named with the mqtt: source's reader (same broker,
    /// credentials and payload formats, plus history arrays of [ts, value...] rows), collects what the broker hands out at
    /// once (retained messages, a retained history payload) until nothing new came for <paramref name="quiet"/> or
    /// <paramref name="limit"/> passed, and returns the last <paramref name="keep"/> rows in time order, model input order.
    /// </summary>
    public static async Task<List<HistoryRow>> ReadMqttHistoryAsync(ResolvedStream stream, MqttSettings? broker, IReadOnlyList<string> channels, int keep,
        TimeSpan quiet, TimeSpan limit, Action<string>? log, CancellationToken ct)
    {
        var spec = SourceSpec.Parse(stream.WarmStart ?? throw new InvalidOperationException("no WarmStart"));
        if (spec.Kind != SourceKind.Mqtt) throw new ArgumentException($"WarmStart '{stream.WarmStart}' is not mqtt:TOPIC");
        await using var source = Create(stream with { Source = stream.WarmStart }, broker, channels, log);
        var sink = new CollectingSink();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = source.RunAsync(sink, stop.Token);
        var started = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan? subscribedAt = null;
        while (started.Elapsed < limit && !run.IsCompleted)
        {
            await Task.Delay(50, ct);
            if (subscribedAt is null && source is MqttSource { Subscribed: true }) subscribedAt = started.Elapsed;
            if (subscribedAt is { } at && started.Elapsed - Max(at, sink.LastAt) >= quiet) break;
        }
        stop.Cancel();
        try { await run; } catch (OperationCanceledException) { }
        if (subscribedAt is null) throw new IOException($"{source.Description}: not subscribed within {limit.TotalSeconds:F0} s");
        var rows = sink.Rows.OrderBy(r => r.Ts).Select(r => new HistoryRow(r.Ts, r.Values)).ToList(); // OrderBy is stable: equal stamps keep arrival order
        return rows.Count > keep ? rows.GetRange(rows.Count - keep, keep) : rows;

        TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
    }

    private sealed class CollectingSink : ISampleSink
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private long _lastTicks;
        public readonly List<(long Ts, float[] Values)> Rows = new();
        public TimeSpan LastAt => TimeSpan.FromTicks(Interlocked.Read(ref _lastTicks));
        public void OnSample(string stream, long timestampMs, ReadOnlySpan<float> values)
        {
            lock (Rows) Rows.Add((timestampMs, values.ToArray()));
            Interlocked.Exchange(ref _lastTicks, _clock.Elapsed.Ticks);
        }
    }

    /// <summary>Checks the spec's syntax without opening anything.</summary>
    public static void Validate(string spec) => SourceSpec.Parse(spec);

    /// <summary>
    /// For --validate: checks the source against the model's input channels as far as it can without live data: a CSV
    /// must have every channel as a column (and one series, or the chosen one, in long format); MQTT field paths must be
    /// one per channel. Returns what will be read; throws InvalidDataException naming the mismatch.
    /// </summary>
    public static string Check(ResolvedStream stream, IReadOnlyList<string> channels)
    {
        var spec = SourceSpec.Parse(stream.Source);
        switch (spec.Kind)
        {
            case SourceKind.Csv:
            {
                if (!File.Exists(spec.Target)) throw new FileNotFoundException($"CSV file '{spec.Target}' does not exist", spec.Target);
                var bad = new List<string>();
                using var r = new CsvReader(new StreamReader(spec.Target), spec.Target, channels, format: new CsvFormat
                {
                    Id = stream.Id, IdColumn = stream.IdColumn, OnBadRow = bad.Add,
                });
                var v = new float[channels.Count];
                int rows = 0;
                while (rows < 10_000 && r.Read(out _, v)) rows++;
                string series = r.Records.SelectedId is { } id ? $" of {r.Records.IdColumn} '{id}'" : "";
                if (rows == 0) throw new InvalidDataException($"{spec.Target}: no readable rows{series} for columns {string.Join(", ", channels)}{(bad.Count > 0 ? $" ({bad[0]})" : "")}");
                return $"columns {string.Join(", ", channels)}{series}, separator '{(r.Records.Separator == '\t' ? "\\t" : r.Records.Separator)}', time {r.TimestampColumn ?? "(none: one row per period)"}; first {rows} rows read, {r.Records.BadRows} bad";
            }
            case SourceKind.Mqtt:
            {
                string[]? paths = stream.Field?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                if (paths is not null && paths.Length != channels.Count)
                    throw new InvalidDataException($"Field: {paths.Length} path(s) ({stream.Field}) for the model's {channels.Count} input(s) ({string.Join(", ", channels)}): give one per input, comma-separated");
                return paths is not null
                    ? $"JSON payloads, {string.Join(", ", channels.Zip(paths, (c, p) => $"{c} at '{p}'"))}"
                    : channels.Count == 1
                        ? $"plain numbers, JSON with field '{channels[0]}', or Home Assistant state objects"
                        : $"JSON objects with fields {string.Join(", ", channels)}";
            }
            case SourceKind.Stdin:
                return $"CSV on stdin with columns {string.Join(", ", channels)}";
            default:
                return $"a device announcing channels {string.Join(", ", channels)} in its hello frame";
        }
    }
}
