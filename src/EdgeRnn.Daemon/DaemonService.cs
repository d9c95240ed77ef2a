using System.Threading.Channels;
using EdgeRnn.Forecasting;
using EdgeRnn.Ingest;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace EdgeRnn.Daemon;

/// <summary>How the daemon gets its forecasters and sources (the CLI passes the real ones; tests may pass doubles).</summary>
public sealed class DaemonFactories
{
    public required Func<ResolvedStream, IStreamForecaster> CreateForecaster { get; init; }
    public required Func<ResolvedStream, ISampleSource> CreateSource { get; init; }
    /// <summary>The shared-model batches <see cref="CreateForecaster"/> puts streams in (null: none), logged at start.</summary>
    public SharedModelBatches? Batches { get; init; }
    /// <summary>Called once every stream is up, with the metrics endpoint actually bound (tests and the demo read it).</summary>
    public Action<DaemonRuntime>? Started { get; init; }
}

/// <summary>What a running daemon exposes to its embedder.</summary>
public sealed class DaemonRuntime
{
    public required IReadOnlyList<StreamPipeline> Pipelines { get; init; }
    public required Outbox Outbox { get; init; }
    public required DaemonMetrics Metrics { get; init; }
    public System.Net.IPEndPoint? MetricsEndpoint { get; init; }
}

/// <summary>
/// The `edgernn run` service: builds each stream (model, source, pipeline, checkpoint restore), the outbox and publisher,
/// the metrics responder and the checkpoint writer; on SIGTERM stops the sources, checkpoints, drains the outbox
/// (bounded), says offline and exits.
/// </summary>
public sealed class DaemonService(DaemonSettings settings, DaemonFactories factories, ILogger<DaemonService> log,
    IHostApplicationLifetime lifetime, ISystemdNotifier? notifier = null) : BackgroundService
{
    private readonly Channel<(StreamPipeline, byte[])> _checkpoints = Channel.CreateBounded<(StreamPipeline, byte[])>(
        new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    /// <summary>
    /// Any exception that escapes the service is fatal: it is logged as such, the process exit code becomes 1 and the host
    /// stops, so systemd's Restart=on-failure restarts it (the Generic Host alone logs "BackgroundService failed" and exits 0).
    /// </summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try { await RunAsync(stoppingToken); }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        catch (Exception e)
        {
            log.LogCritical("fatal: {Type}: {Error}; exiting with code 1", e.GetType().Name, e.Message);
            log.LogDebug("{Trace}", e.ToString());
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        await Task.Yield(); // let the host finish starting; everything below runs off the startup path
        Outbox outbox;
        try
        {
            Directory.CreateDirectory(settings.StateDir);
            outbox = new Outbox(Path.Combine(settings.StateDir, "outbox"), settings.OutboxMaxBytes, settings.OutboxFsync, log);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // nothing can be published without a spool that keeps seq numbers: a state dir we cannot use is fatal
            log.LogCritical("state directory {Dir} is not usable ({Error}); exiting with code 1", settings.StateDir, e.Message);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
            return;
        }
        var metrics = new DaemonMetrics { Outbox = outbox, SharedBatches = factories.Batches?.Groups.Values.ToArray() ?? [] };
        var pipelines = new List<StreamPipeline>();
        var sources = new Dictionary<StreamPipeline, ISampleSource>();
        var stores = new Dictionary<StreamPipeline, CheckpointStore>();
        string ckptDir = Path.Combine(settings.StateDir, "checkpoints");
        foreach (var s in settings.Streams)
        {
            IStreamForecaster f;
            try { f = factories.CreateForecaster(s); }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or FormatException or UnauthorizedAccessException or NotSupportedException)
            {
                log.LogError("stream {Stream}: cannot load model {Model}: {Error}; this stream is not started", s.Name, s.Model, e.Message);
                continue;
            }
            if (TopicNames.CheckTargets(settings.Gateway, s.Name, f.Targets) is [var targetError, ..])
            {
                log.LogError("{Error}; this stream is not started", targetError);
                f.Dispose();
                continue;
            }
            string topic = $"{settings.TopicPrefix}/{settings.Gateway}/{s.Name}/forecast";
            var p = new StreamPipeline(s, f, outbox, topic, settings.MessageExpirySeconds, log, s.Condition);
            if (settings.Anomaly is { } an)
            {
                p.Anomaly = StreamAnomaly.Create(s.Name, $"{settings.TopicPrefix}/{settings.Gateway}/{s.Name}/anomaly", f.InputChannels, f.Targets,
                    s.SamplePeriod ?? f.SamplePeriod, an);
            }
            var store = new CheckpointStore(ckptDir, s.Name, log);
            foreach (var (gen, payload) in store.LoadAll())
            {
                if (p.RestoreCheckpoint(payload, gen))
                {
                    log.LogInformation("stream {Stream}: resumed from checkpoint generation {Gen}", s.Name, gen);
                    p.Metrics.LastCheckpointUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                    break;
                }
            }
            // a checkpoint restores the model but not the anomaly detector: the warm-start history then warms the detector alone
            bool restored = p.Metrics.LastCheckpointUnixMs != 0;
            if (s.WarmStart is not null && (!restored || p.Anomaly is not null))
            {
                try
                {
                    int keep = restored ? 0 : Math.Max(p.WarmupNeeded, 1) + 64;
                    if (p.Anomaly is { } det) keep = Math.Max(keep, det.DetectorOptions.WarmupRows + det.DetectorOptions.ReferenceShort);
                    Action<string> warn = msg => log.LogWarning("stream {Stream}: warm start: {Message}", s.Name, msg);
                    var rows = Sources.IsMqttWarmStart(s.WarmStart)
                        ? await Sources.ReadMqttHistoryAsync(s, settings.SourceMqtt, f.InputChannels, keep, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10),
                            msg => log.LogInformation("stream {Stream}: warm start: {Message}", s.Name, msg), stoppingToken)
                        : Sources.ReadHistory(s, f.InputChannels, keep, warn);
                    int used = p.Prefill(rows, detectorOnly: restored);
                    log.LogInformation("stream {Stream}: warm start from {File}: {Rows} history rows{Which}, {Readiness}", s.Name, s.WarmStart, used,
                        restored ? " for the anomaly detector (the model resumed from its checkpoint)" : "", p.Readiness);
                }
                catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException)
                {
                    log.LogWarning("stream {Stream}: warm start from {File} failed ({Error}); starting cold", s.Name, s.WarmStart, e.Message);
                }
            }
            p.CheckpointCaptured = (pl, bytes) => _checkpoints.Writer.TryWrite((pl, bytes));
            pipelines.Add(p);
            stores[p] = store;
            metrics.Streams.Add(p.Metrics);
            log.LogInformation("stream {Stream}: {Source} -> model {Model} {Version} ({Precision}, inputs [{Inputs}], targets [{Targets}], horizon {H}, fine-tune {Ft}) -> {Topic}; next seq {Seq}",
                s.Name, s.Source, f.ModelName, f.ModelVersion, f.Precision, string.Join(",", f.InputChannels), string.Join(",", f.Targets), f.Horizon, s.FineTune ? "on" : "off", topic, outbox.LastSeq(s.Name) + 1);
            if (settings.Anomaly is not null && p.Anomaly is null)
                log.LogWarning("stream {Stream}: no anomaly score: none of the model's targets [{Targets}] is one of its inputs", s.Name, string.Join(",", f.Targets));
            else if (p.Anomaly is { } det)
                log.LogInformation("stream {Stream}: anomaly score of [{Targets}] -> {Topic} (alert at >= {Threshold}; warm-up {Warmup} samples, season {Season}; anomaly seq from {Seq})",
                    s.Name, string.Join(",", det.Targets), det.Topic, det.Threshold, det.DetectorOptions.WarmupRows, det.DetectorOptions.SeasonRows, outbox.LastSeq(det.OutboxKey) + 1);
        }
        foreach (var g in factories.Batches?.Groups.Values ?? [])
            log.LogInformation("model {Model}: {Count} int8 streams share it: its network (fine-tuning off) or frozen reference (on) is stepped for them together, one matrix product per layer per step", g.ModelPath, g.Count);
        if (pipelines.Count == 0)
        {
            log.LogCritical("no stream could be started: exiting");
            outbox.Dispose();
            Environment.ExitCode = 1;
            lifetime.StopApplication();
            return;
        }
        metrics.SourceCounters = () =>
        {
            var all = new Dictionary<string, long>();
            foreach (var (p, src) in sources.ToArray())
                foreach (var kv in src.Counters) all[$"{p.Name}:{kv.Key}"] = kv.Value;
            foreach (var p in pipelines)
                foreach (var kv in p.ConditionerCounters) all[$"{p.Name}:conditioner_{kv.Key}"] = kv.Value;
            return all;
        };

        MetricsServer? server = null;
        if (settings.Metrics is not null)
        {
            try
            {
                server = new MetricsServer(settings.Metrics, metrics, () => Health(pipelines, metrics, settings), log);
                server.Start();
                log.LogInformation("metrics on http://{Endpoint}/metrics and /healthz", server.LocalEndpoint);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                log.LogError("metrics endpoint {Endpoint} unavailable ({Error}); running without it", settings.Metrics, e.Message);
                server = null;
            }
        }

        using var publisherStop = new CancellationTokenSource();
        Task publisher = Task.CompletedTask;
        if (settings.Mqtt is { } mq)
        {
            var pub = new MqttPublisher(settings, mq, outbox, metrics,
                () => pipelines.Select(p => p.Discovery($"{settings.TopicPrefix}/{settings.Gateway}/{p.Name}/forecast")).ToList(), log);
            foreach (var p in pipelines) p.UnitsChanged = pub.RequestDiscovery;
            publisher = Task.Run(() => pub.RunAsync(publisherStop.Token), CancellationToken.None);
        }
        else log.LogWarning("no MQTT broker configured (--mqtt): forecasts are kept in the outbox only");

        using var sourceStop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var sourceTasks = pipelines.Select(p => Task.Run(() => RunSourceAsync(p, sources, sourceStop.Token), CancellationToken.None)).ToList();
        var writer = Task.Run(() => WriteCheckpointsAsync(stores), CancellationToken.None);
        var ticker = Task.Run(() => TickAsync(pipelines, stoppingToken), CancellationToken.None);
        factories.Started?.Invoke(new DaemonRuntime { Pipelines = pipelines, Outbox = outbox, Metrics = metrics, MetricsEndpoint = server?.LocalEndpoint });

        try { await Task.Delay(Timeout.Infinite, stoppingToken); } catch (OperationCanceledException) { }

        // shutdown: sources first (no new forecasts), then checkpoints, then drain what is left, then offline
        log.LogInformation("stopping: closing sources");
        sourceStop.Cancel();
        await Task.WhenAll(sourceTasks);
        await ticker;
        _checkpoints.Writer.TryComplete();
        await writer;
        foreach (var p in pipelines)
        {
            try
            {
                long gen = stores[p].Save(p.CaptureCheckpoint());
                log.LogInformation("stream {Stream}: checkpoint generation {Gen} written", p.Name, gen);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log.LogError("stream {Stream}: final checkpoint failed: {Error}", p.Name, e.Message); }
        }
        if (settings.Mqtt is not null)
        {
            var deadline = DateTime.UtcNow + settings.DrainTimeout;
            while (outbox.Depth > 0 && DateTime.UtcNow < deadline) await Task.Delay(50, CancellationToken.None);
            if (outbox.Depth > 0) log.LogWarning("drain timeout ({Timeout}s): {Depth} forecast(s) stay in the outbox for the next start", settings.DrainTimeout.TotalSeconds, outbox.Depth);
            else log.LogInformation("outbox drained");
        }
        publisherStop.Cancel();
        await publisher;
        outbox.Dispose();
        if (server is not null) await server.DisposeAsync();
        foreach (var (_, src) in sources) await src.DisposeAsync();
        foreach (var p in pipelines) p.Forecaster.Dispose();
    }

    private async Task RunSourceAsync(StreamPipeline p, Dictionary<StreamPipeline, ISampleSource> sources, CancellationToken ct)
    {
        var backoff = TimeSpan.FromSeconds(1);
        var s = settings.Streams.First(x => x.Name == p.Name);
        while (!ct.IsCancellationRequested)
        {
            ISampleSource src;
            try
            {
                src = factories.CreateSource(s);
                lock (sources) { if (sources.Remove(p, out var old)) _ = old.DisposeAsync(); sources[p] = src; }
                p.SourceChannels = () => src.Channels;
                p.SourceUnits = src is SerialSource serial ? () => serial.Device?.Units : null;
                await src.RunAsync(p, ct);
                if (!ct.IsCancellationRequested) { log.LogInformation("stream {Stream}: source {Source} ended", p.Name, src.Description); return; }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                log.LogError("stream {Stream}: source {Source} failed: {Error}; retrying in {Delay}s", p.Name, s.Source, e.Message, backoff.TotalSeconds);
                try { await Task.Delay(backoff, ct); } catch (OperationCanceledException) { return; }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

    private async Task WriteCheckpointsAsync(Dictionary<StreamPipeline, CheckpointStore> stores)
    {
        await foreach (var (p, bytes) in _checkpoints.Reader.ReadAllAsync())
        {
            try
            {
                long gen = stores[p].Save(bytes);
                Volatile.Write(ref p.Metrics.LastCheckpointUnixMs, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                log.LogDebug("stream {Stream}: checkpoint generation {Gen} ({Bytes} bytes)", p.Name, gen, bytes.Length);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Interlocked.Increment(ref p.Metrics.CheckpointFailures);
                log.LogError("stream {Stream}: checkpoint failed: {Error}", p.Name, e.Message);
            }
        }
    }

    /// <summary>Checkpoint requests at the configured rate, and systemd watchdog pings only while samples keep arriving.</summary>
    private async Task TickAsync(List<StreamPipeline> pipelines, CancellationToken ct)
    {
        TimeSpan? watchdog = null;
        if (notifier is { IsEnabled: true } && long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), out long usec) && usec > 0)
            watchdog = TimeSpan.FromMicroseconds(usec);
        long tickTicks = Math.Min(TimeSpan.FromSeconds(1).Ticks, settings.CheckpointInterval.Ticks);
        if (watchdog is { } w) tickTicks = Math.Min(tickTicks, w.Ticks / 2);
        var tick = TimeSpan.FromTicks(Math.Max(tickTicks, TimeSpan.FromMilliseconds(10).Ticks));
        var nextCheckpoint = DateTime.UtcNow + settings.CheckpointInterval;
        using var timer = new PeriodicTimer(tick);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (DateTime.UtcNow >= nextCheckpoint)
                {
                    foreach (var p in pipelines) p.RequestCheckpoint();
                    nextCheckpoint = DateTime.UtcNow + settings.CheckpointInterval;
                }
                if (watchdog is { } wd)
                {
                    long now = Environment.TickCount64;
                    bool flowing = pipelines.Any(p => now - Volatile.Read(ref p.Metrics.LastSampleTicks) < Math.Max(wd.TotalMilliseconds, p.SilenceMs) && !p.ForecastsStalled(now, out _));
                    if (flowing) notifier!.Notify(new ServiceState("WATCHDOG=1"));
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    internal static (bool, string) Health(List<StreamPipeline> pipelines, DaemonMetrics metrics, DaemonSettings settings)
    {
        long now = Environment.TickCount64;
        var sb = new System.Text.StringBuilder();
        bool anyFlowing = false, anyStalled = false;
        foreach (var p in pipelines)
        {
            long last = Volatile.Read(ref p.Metrics.LastSampleTicks);
            double age = last == 0 ? double.PositiveInfinity : (now - last) / 1000.0;
            bool stalled = p.ForecastsStalled(now, out double sinceForecast);
            anyFlowing |= age * 1000 < p.SilenceMs && !stalled;
            anyStalled |= stalled;
            sb.Append("stream ").Append(p.Name).Append(": last sample ").Append(double.IsInfinity(age) ? "never" : $"{age:F1}s ago")
              .Append(", forecasts ").Append(Interlocked.Read(ref p.Metrics.Forecasts)).Append(", ").Append(p.Readiness)
              .Append(", silence limit ").Append((p.SilenceMs / 1000).ToString("F0", System.Globalization.CultureInfo.InvariantCulture)).Append('s');
            if (stalled) sb.Append(", STALLED: samples arrive but no forecast for ").Append(sinceForecast.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)).Append('s');
            sb.Append('\n');
        }
        if (metrics.Outbox?.WriteError is { } werr)
            sb.Insert(0, $"degraded: the outbox cannot be written ({werr}); {metrics.Outbox.WriteFailures} forecast(s) dropped, forecasting goes on\n");
        sb.Append("mqtt: ").Append(settings.Mqtt is null ? "not configured" : Volatile.Read(ref metrics.Connected) == 1 ? "connected" : "disconnected")
          .Append(", outbox depth ").Append(metrics.Outbox?.Depth ?? 0).Append('\n');
        // healthy while data flows (or for the first minute); a disconnected broker is degraded, not dead: the outbox holds
        bool starting = now - metrics.StartTicks < (pipelines.Count == 0 ? 60_000 : pipelines.Max(p => p.SilenceMs));
        // a stream whose bytes flow but whose forecasts stopped is stuck: red, whatever the others do
        return ((anyFlowing || starting) && !anyStalled, sb.ToString());
    }
}
