using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using EdgeRnn.Forecasting;
using EdgeRnn.Ingest;
using Microsoft.Extensions.Logging;

namespace EdgeRnn.Daemon;

/// <summary>
/// One stream: samples from its source → channel mapping and conditioning → model step (state carried by the forecaster)
/// → forecast payload → outbox. Runs entirely on the source's thread; the forecaster learns on its own background learner.
/// Checkpoints are captured here (between two steps, so the state is consistent without a lock) and written to disk elsewhere.
/// </summary>
public sealed class StreamPipeline : ISampleSink
{
    private readonly ResolvedStream _config;
    private readonly IStreamForecaster _forecaster;
    private readonly Outbox _outbox;
    private readonly ILogger _log;
    private readonly string _topic;
    private readonly uint _expiry;
    private readonly float[] _input;
    private readonly float[] _forecast, _lower, _upper;
    // rolling one-step error of the model and of repeating the last value (/metrics), per target
    private readonly int[] _targetInput;
    private readonly float[] _prevNext, _prevValue;
    private long _scored;
    // readiness: samples the model has seen (history included) until its first forecast, and how many it needs
    private long _observed;
    private int _ready;
    private long _lastWarmLogTicks;
    // conditioner silence: samples in while nothing comes out
    private long _conditionedIn, _lastStepTicks = Environment.TickCount64, _lastSilenceLogTicks;
    private bool _rateWarned, _restored;
    private long _firstConditionedTs;

    /// <summary>Samples the model needs before its first forecast (its lookback; 0 when unknown).</summary>
    public int WarmupNeeded => _forecaster is StreamForecaster sf ? sf.Model.Skip?.Lookback ?? 1 : 0;
    /// <summary>Samples the model has seen since start (warm-start history and checkpoint restore included).</summary>
    public long Observed => Interlocked.Read(ref _observed);
    /// <summary>True once the model has produced a forecast (or was restored warm from a checkpoint).</summary>
    public bool Ready => Volatile.Read(ref _ready) != 0;

    /// <summary>
    /// How long this stream may stay silent before /healthz and the watchdog call it dead: three sample periods, at least
    /// a minute (a sensor reporting every 80 s is not "silent" after 66 s).
    /// </summary>
    public double SilenceMs => Math.Max(60_000, 3 * PeriodMs());

    /// <summary>"ready", or "warming up 120/336" until the first forecast.</summary>
    public string Readiness => Ready ? "ready" : _restored && Observed == 0 ? "resumed from checkpoint, waiting for the first sample" : WarmupNeeded > 0 ? $"warming up {Math.Min(Observed, WarmupNeeded)}/{WarmupNeeded}" : "warming up";

    /// <summary>
    /// Warm start: feeds history rows (raw units, model input order) through the model without publishing, so the lookback
    /// is full before live data arrives. Timed rows go through the stream's conditioner like live samples (the same grid,
    /// gap and hold rules), which then carries on from the last history sample: the first live sample fills the grid up to
    /// now and the forecast goes out at once, instead of after a second live sample. Untimed rows (a CSV without a time
    /// column) are taken as one per period. Returns how many history rows were read. <paramref name="detectorOnly"/>: only
    /// the anomaly detector learns from them (the model already resumed from a checkpoint; the detector's state is not in it).
    /// </summary>
    public int Prefill(IReadOnlyList<Sources.HistoryRow> rows, bool detectorOnly = false)
    {
        _prefill = detectorOnly ? PrefillMode.DetectorOnly : PrefillMode.All;
        try
        {
            if (_conditioner is not null && rows.Count > 0 && rows.All(r => r.TimestampMs is not null))
                foreach (var r in rows) _conditioner.OnSample(Name, r.TimestampMs!.Value, r.Values);
            else
                foreach (var r in rows) PrefillStep(0, r.Values);
        }
        finally { _prefill = PrefillMode.Off; }
        return rows.Count;
    }

    private enum PrefillMode { Off, All, DetectorOnly }
    private PrefillMode _prefill;

    /// <summary>One history row into the detector and (unless only the detector warms up) the model; nothing published.</summary>
    private void PrefillStep(long timestampMs, ReadOnlySpan<float> r)
    {
        Anomaly?.Observe(r); // the detector learns from history too (its warm-up), nothing is published
        if (_prefill == PrefillMode.DetectorOnly) return;
        if (_forecaster.Observe(r, _forecast)) Volatile.Write(ref _ready, 1);
        Interlocked.Increment(ref _observed);
        for (int t = 0; t < _prevValue.Length; t++)
            if (_targetInput[t] >= 0 && float.IsFinite(r[_targetInput[t]])) _prevValue[t] = r[_targetInput[t]];
        if (timestampMs != 0) _lastTs = timestampMs;
    }

    internal static int IndexOf(IReadOnlyList<string> list, string name)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == name) return i;
        return -1;
    }
    private readonly ArrayBufferWriter<byte> _json = new(1024);
    private readonly Utf8JsonWriter _writer;
    private readonly string _precisionName;
    private int[]? _channelMap;          // model input i ← source value _channelMap[i]
    private int _mappedFrom = -1;         // the source value count the map was built for
    private long _lastTs;
    private double _periodEmaMs;
    private long _lastBadLogTicks;
    private volatile int _checkpointRequested;
    private readonly SampleConditioner? _conditioner;

    /// <summary>Forwards the conditioner's output (grid-aligned samples) to the model step.</summary>
    private sealed class StepSink(StreamPipeline p) : ISampleSink
    {
        public void OnSample(string stream, long timestampMs, ReadOnlySpan<float> values)
        {
            if (p._prefill != PrefillMode.Off) p.PrefillStep(timestampMs, values);
            else p.Step(timestampMs, values);
        }
    }

    public StreamMetrics Metrics { get; }
    /// <summary>The stream's anomaly detector (null: off, or no target to score); set before the first sample.</summary>
    public StreamAnomaly? Anomaly { get; set; }
    public string Name => _config.Name;
    public ResolvedStream Config => _config;
    public IStreamForecaster Forecaster => _forecaster;
    /// <summary>The channel names the source reports (null: unknown, values are taken in order).</summary>
    public Func<IReadOnlyList<string>>? SourceChannels { get; set; }
    /// <summary>The units the source announces per channel (a firmware-bridge hello frame); null: none.</summary>
    public Func<IReadOnlyList<string>?>? SourceUnits { get; set; }
    /// <summary>Called (source thread) when the device announced units that change what discovery says.</summary>
    public Action? UnitsChanged { get; set; }
    private IReadOnlyList<string?>? _deviceUnits;
    /// <summary>Per target, the unit the device announced for its channel (null entries: none); null until a hello names units.</summary>
    public IReadOnlyList<string?>? DeviceUnits => Volatile.Read(ref _deviceUnits);

    /// <summary>What Home Assistant discovery announces for this stream (configured unit first, else the device's).</summary>
    public DiscoveryStream Discovery(string forecastTopic) => new(Name, forecastTopic, _forecaster.Targets, _forecaster.ModelName, _forecaster.ModelVersion,
        _config.SamplePeriod ?? _forecaster.SamplePeriod, _config.Unit, _config.DeviceClass)
    { TargetUnits = DeviceUnits, AnomalyTopic = Anomaly?.Topic };

    private object? _unitsSeen;

    /// <summary>
    /// Takes each target's unit from the source's announcement once the channel map is known, and again whenever the
    /// source has a new announcement (a device re-sends its hello frame; data frames may come first after a connect).
    /// </summary>
    private void LearnUnits(int sourceValues)
    {
        if (SourceUnits?.Invoke() is not { } units || ReferenceEquals(units, _unitsSeen) || units.Count != sourceValues || _channelMap is null) return;
        _unitsSeen = units;
        string? Unit(int t) => _targetInput[t] >= 0 && units[_channelMap[_targetInput[t]]] is { Length: > 0 } u ? u : null;
        var old = DeviceUnits;
        bool same = old is not null;
        for (int t = 0; same && t < _targetInput.Length; t++) same = old![t] == Unit(t);
        if (same) return;
        var per = new string?[_targetInput.Length];
        for (int t = 0; t < per.Length; t++) per[t] = Unit(t);
        Volatile.Write(ref _deviceUnits, per);
        _log.LogInformation("stream {Stream}: the device announces unit(s) [{Units}] for [{Targets}]", Name, string.Join(", ", per.Select(u => u ?? "-")), string.Join(", ", _forecaster.Targets));
        UnitsChanged?.Invoke();
    }

    /// <summary>Receives a captured checkpoint payload (from the source thread) to write it to disk off the hot path.</summary>
    public Action<StreamPipeline, byte[]>? CheckpointCaptured { get; set; }

    public StreamPipeline(ResolvedStream config, IStreamForecaster forecaster, Outbox outbox, string topic, uint expirySeconds, ILogger log, bool condition = false)
    {
        _config = config;
        _forecaster = forecaster;
        _outbox = outbox;
        _topic = topic;
        _expiry = expirySeconds;
        _log = log;
        _input = new float[forecaster.InputChannels.Count];
        _forecast = new float[forecaster.Horizon * forecaster.Targets.Count];
        _lower = new float[_forecast.Length];
        _upper = new float[_forecast.Length];
        _writer = new Utf8JsonWriter(_json);
        _precisionName = forecaster.Precision.Name();
        Metrics = new StreamMetrics(config.Name);
        Metrics.SetTargets(forecaster.Targets);
        _targetInput = forecaster.Targets.Select(t => IndexOf(forecaster.InputChannels, t)).ToArray();
        _prevNext = new float[forecaster.Targets.Count];
        _prevValue = new float[forecaster.Targets.Count];
        Array.Fill(_prevNext, float.NaN);
        Array.Fill(_prevValue, float.NaN);
        // resample onto the model's time grid and fill short gaps (Ingest's conditioner) when the period is known
        var period = config.SamplePeriod ?? forecaster.SamplePeriod;
        if (condition && period is { } pe && pe.TotalMilliseconds >= 1)
            _conditioner = new SampleConditioner(new StepSink(this), _input.Length, config.Conditioning with { PeriodMs = (long)pe.TotalMilliseconds });
    }

    /// <summary>The conditioner's counters (non-finite, out of range, out of order, gaps filled...), empty when not conditioning.</summary>
    public IReadOnlyDictionary<string, long> ConditionerCounters => _conditioner?.Counters ?? new Dictionary<string, long>();

    public void RequestCheckpoint() => _checkpointRequested = 1;

    /// <summary>How far ahead of this machine's clock a sample's timestamp may be before it is treated as wrong.</summary>
    public const long FutureToleranceMs = 24L * 3600 * 1000;
    private long _lastRawTs = long.MinValue;
    private long _lastClampLogTicks;

    public void OnSample(string stream, long timestampMs, ReadOnlySpan<float> values)
    {
        Interlocked.Increment(ref Metrics.Samples);
        Volatile.Write(ref Metrics.LastSampleTicks, Environment.TickCount64);
        timestampMs = CheckTimestamp(timestampMs);
        if (!MapChannels(values)) return;
        int bad = 0;
        for (int i = 0; i < _input.Length; i++)
        {
            float v = values[_channelMap![i]];
            if (!float.IsFinite(v)) { v = float.NaN; bad++; } // missing: the forecaster never learns from it
            _input[i] = v;
        }
        if (bad > 0)
        {
            Interlocked.Add(ref Metrics.BadValues, bad);
            long now = Environment.TickCount64;
            if (now - _lastBadLogTicks > 60_000)
            {
                _lastBadLogTicks = now;
                _log.LogWarning("stream {Stream}: sensor sent a non-finite value (NaN or infinity) at {Ts}; treated as missing ({Count} so far)", Name, timestampMs, Interlocked.Read(ref Metrics.BadValues));
            }
        }
        if (_conditioner is not null)
        {
            _conditioner.OnSample(Name, timestampMs, _input);
            WatchConditioner(timestampMs);
        }
        else Step(timestampMs, _input);
    }

    /// <summary>
    /// Says why a conditioned stream is quiet: a sensor much faster than the model's period (averaged into one sample per
    /// period, so the model sees one sample per period), or samples that go in for several periods while nothing comes out
    /// (out of order, out of range, non-finite: the conditioner's counters say which).
    /// </summary>
    private void WatchConditioner(long timestampMs)
    {
        long n = ++_conditionedIn;
        if (n == 1) _firstConditionedTs = timestampMs;
        double period = _config.SamplePeriod?.TotalMilliseconds ?? _forecaster.SamplePeriod?.TotalMilliseconds ?? 0;
        long now = Environment.TickCount64;
        if (!_rateWarned && n == 100 && period > 0)
        {
            _rateWarned = true;
            double arrivalMs = (timestampMs - _firstConditionedTs) / 99.0;
            if (arrivalMs > 0 && period / arrivalMs >= 10)
                _log.LogWarning("stream {Stream}: samples arrive about every {Arrival:F0} ms but the model's period is {Period}; the conditioner averages each period into one sample, so the model sees one sample per {Period} (first forecast after {Needed} periods)",
                    Name, arrivalMs, TimeSpan.FromMilliseconds(period).ToString("g"), TimeSpan.FromMilliseconds(period).ToString("g"), WarmupNeeded);
        }
        if (period > 0 && now - _lastStepTicks > Math.Max(10_000, 5 * period) && now - _lastSilenceLogTicks > 60_000)
        {
            _lastSilenceLogTicks = now;
            var c = _conditioner!.Counters;
            _log.LogWarning("stream {Stream}: {In} samples went into the conditioner but none came out for {Seconds:F0} s (period {Period}); conditioner counters: {Counters}",
                Name, n, (now - _lastStepTicks) / 1000.0, TimeSpan.FromMilliseconds(period).ToString("g"), string.Join(", ", c.Select(kv => $"{kv.Key} {kv.Value}")));
        }
    }

    /// <summary>The new sample against the previous step's next-step forecast and against the previous value (EMA of |error|).</summary>
    private void ScoreOneStep(ReadOnlySpan<float> input)
    {
        bool any = false;
        double alpha = Math.Max(0.01, 1.0 / (_scored + 1)); // plain mean for the first 100, then an EMA over ~100 steps
        for (int t = 0; t < _prevNext.Length; t++)
        {
            int k = _targetInput[t];
            if (k < 0 || !float.IsFinite(input[k]) || !float.IsFinite(_prevNext[t]) || !float.IsFinite(_prevValue[t])) continue;
            double em = Math.Abs(input[k] - _prevNext[t]), el = Math.Abs(input[k] - _prevValue[t]);
            double m = Metrics.MaeModel[t], l = Metrics.MaeLastValue[t];
            Volatile.Write(ref Metrics.MaeModel[t], double.IsNaN(m) ? em : m + alpha * (em - m));
            Volatile.Write(ref Metrics.MaeLastValue[t], double.IsNaN(l) ? el : l + alpha * (el - l));
            any = true;
        }
        if (any) _scored++;
    }

    /// <summary>
    /// A timestamp beyond now + <see cref="FutureToleranceMs"/> or before 1970 (year 9999, 1e300, a device clock that jumped
    /// +2^31 ms) would freeze the stream: every later sample would look out of order. It is re-stamped instead, on the
    /// stream's own clock: one period after the previous sample (live or a replay of the past alike), or the arrival time
    /// when it is the stream's first.
    /// Counted in edgernn_clamped_timestamps_total and logged at most once a minute.
    /// </summary>
    private long CheckTimestamp(long ts)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        if (ts >= 0 && ts <= now + FutureToleranceMs) { _lastRawTs = ts; return ts; }
        long fixedTs;
        if (_lastRawTs == long.MinValue) fixedTs = now;
        else fixedTs = _lastRawTs + Math.Max(1, (long)Math.Round(PeriodMs()));
        long n = Interlocked.Increment(ref Metrics.ClampedTimestamps);
        long t = Environment.TickCount64;
        if (n == 1 || t - _lastClampLogTicks > 60_000)
        {
            _lastClampLogTicks = t;
            _log.LogWarning("stream {Stream}: sample timestamp {Ts} ms is {Where}; re-stamped {Fixed} ({Count} so far)",
                Name, ts, ts < 0 ? "before 1970" : "more than a day ahead of this clock", DateTimeOffset.FromUnixTimeMilliseconds(fixedTs).UtcDateTime.ToString("O"), n);
        }
        _lastRawTs = fixedTs;
        return fixedTs;
    }

    private void Step(long timestampMs, ReadOnlySpan<float> input)
    {
        if (_lastTs != 0)
        {
            long dt = timestampMs - _lastTs;
            double period = PeriodMs();
            if (period > 0 && dt > 2.5 * period) Interlocked.Increment(ref Metrics.Gaps);
            if (dt > 0) _periodEmaMs = _periodEmaMs == 0 ? dt : 0.9 * _periodEmaMs + 0.1 * dt;
        }
        _lastTs = timestampMs;

        ScoreOneStep(input);
        if (Anomaly is { } an) PublishAnomaly(an, timestampMs, input);
        long t0 = Stopwatch.GetTimestamp();
        bool ready = _forecaster.Observe(input, _forecast, _lower, _upper);
        long observed = Interlocked.Increment(ref _observed);
        _lastStepTicks = Environment.TickCount64;
        if (ready && Volatile.Read(ref _ready) == 0)
        {
            Volatile.Write(ref _ready, 1);
            _log.LogInformation("stream {Stream}: first forecast after {Observed} samples", Name, observed);
        }
        else if (!ready && WarmupNeeded > 0 && _lastStepTicks - _lastWarmLogTicks > 60_000)
        {
            _lastWarmLogTicks = _lastStepTicks;
            _log.LogInformation("stream {Stream}: warming up {Observed}/{Needed} samples before the first forecast{Eta}", Name, Math.Min(observed, WarmupNeeded), WarmupNeeded,
                PeriodMs() > 0 ? $" (about {TimeSpan.FromMilliseconds((WarmupNeeded - Math.Min(observed, WarmupNeeded)) * PeriodMs()):g} more at one sample per {TimeSpan.FromMilliseconds(PeriodMs()):g}; a warm start from history skips this: see WarmStart)" : "");
        }
        long dtTicks = Stopwatch.GetTimestamp() - t0;
        Interlocked.Add(ref Metrics.StepTicksSum, dtTicks);
        if (dtTicks > Metrics.StepTicksMax) Volatile.Write(ref Metrics.StepTicksMax, dtTicks);
        var stats = _forecaster.Stats;
        Metrics.FineTuneLoss = stats.LastLoss;
        Metrics.FineTuneWeight = stats.TunedWeight;
        Metrics.IntervalCoverage = _forecaster.RunningCoverage;
        Volatile.Write(ref Metrics.FineTuneUpdates, stats.Updates);
        Volatile.Write(ref Metrics.FineTuneRollbacks, stats.Rollbacks);

        int nt = _prevNext.Length, h = _forecaster.Horizon;
        for (int t = 0; t < nt; t++)
        {
            _prevNext[t] = ready ? _forecast[t] : float.NaN;
            if (_targetInput[t] >= 0 && float.IsFinite(input[_targetInput[t]])) _prevValue[t] = input[_targetInput[t]];
            if (ready)
            {
                Volatile.Write(ref Metrics.LatestNext[t], _forecast[t]);
                Volatile.Write(ref Metrics.LatestEnd[t], _forecast[(h - 1) * nt + t]);
            }
        }
        if (ready)
        {
            long seq = _outbox.LastSeq(Name) + 1;
            WritePayload(seq, timestampMs);
            // a spool that cannot be written (disk full, read-only) drops this one forecast, counted there; the model goes on
            if (_outbox.Append(Name, seq, _topic, _expiry, _json.WrittenSpan))
            {
                Interlocked.Increment(ref Metrics.Forecasts);
                Volatile.Write(ref Metrics.LastForecastTicks, Environment.TickCount64);
            }
        }
        if (_checkpointRequested != 0)
        {
            _checkpointRequested = 0;
            CheckpointCaptured?.Invoke(this, CaptureCheckpoint());
        }
    }

    /// <summary>Scores the step and appends its anomaly message (every sample, warm-up included, as `detect` writes every row).</summary>
    private void PublishAnomaly(StreamAnomaly an, long timestampMs, ReadOnlySpan<float> input)
    {
        double score = an.Observe(input);
        Volatile.Write(ref Metrics.AnomalyScore, score);
        if (an.IsAlert(score)) Interlocked.Increment(ref Metrics.AnomalyAlerts);
        long seq = _outbox.LastSeq(an.OutboxKey) + 1;
        an.Write(seq, timestampMs, score);
        _outbox.Append(an.OutboxKey, seq, an.Topic, _expiry, an.Payload);
    }

    private readonly long _startTicks = Environment.TickCount64;

    /// <summary>
    /// Samples keep arriving but no forecast has been written for longer than a warm-up could explain
    /// (max(2 min, 150 sample periods)): the stream is stuck even though its bytes flow.
    /// </summary>
    public bool ForecastsStalled(long nowTicks, out double secondsSinceForecast)
    {
        long lastSample = Volatile.Read(ref Metrics.LastSampleTicks), lastForecast = Volatile.Read(ref Metrics.LastForecastTicks);
        long since = Math.Max(lastForecast, _startTicks);
        secondsSinceForecast = (nowTicks - since) / 1000.0;
        double limitMs = Math.Max(120_000, 150 * PeriodMs());
        return lastSample > since && lastSample - since > limitMs;
    }

    private double PeriodMs() => _config.SamplePeriod?.TotalMilliseconds ?? _forecaster.SamplePeriod?.TotalMilliseconds ?? _periodEmaMs;

    private bool MapChannels(ReadOnlySpan<float> values)
    {
        if (_mappedFrom == values.Length && _channelMap is not null) { LearnUnits(values.Length); return true; }
        if (_mappedFrom == values.Length) return false; // already reported as unusable
        _mappedFrom = values.Length;
        var want = _forecaster.InputChannels;
        var have = SourceChannels?.Invoke();
        if (have is { Count: > 0 } && have.Count == values.Length)
        {
            var map = new int[want.Count];
            bool all = true;
            for (int i = 0; i < want.Count && all; i++)
            {
                int j = -1;
                for (int k = 0; k < have.Count; k++) if (string.Equals(have[k], want[i], StringComparison.OrdinalIgnoreCase)) { j = k; break; }
                map[i] = j;
                all = j >= 0;
            }
            if (all) { _channelMap = map; LearnUnits(values.Length); return true; }
        }
        if (values.Length == want.Count)
        {
            _channelMap = Enumerable.Range(0, want.Count).ToArray();
            LearnUnits(values.Length);
            return true;
        }
        _channelMap = null;
        _log.LogError("stream {Stream}: model {Model} expects {Want} input channel(s) [{WantNames}] but the source {Source} sends {Have} [{HaveNames}]; its samples are skipped until that changes",
            Name, _config.Model, want.Count, string.Join(", ", want), _config.Source, values.Length, have is null ? "unnamed" : string.Join(", ", have));
        return false;
    }

    /// <summary>The fields every message of a stream starts with (forecast and anomaly alike): stream, seq, ts, time.</summary>
    internal static void StartPayload(Utf8JsonWriter w, string stream, long seq, long ts)
    {
        w.WriteStartObject();
        w.WriteString("stream"u8, stream);
        w.WriteNumber("seq"u8, seq);
        w.WriteNumber("ts"u8, ts);
        w.WriteString("time"u8, DateTimeOffset.FromUnixTimeMilliseconds(ts).UtcDateTime);
    }

    private void WritePayload(long seq, long ts)
    {
        _json.Clear();
        _writer.Reset(_json);
        var w = _writer;
        StartPayload(w, Name, seq, ts);
        w.WriteString("model"u8, _forecaster.ModelName);
        w.WriteString("version"u8, _forecaster.ModelVersion);
        w.WriteString("precision"u8, _precisionName);
        w.WriteStartArray("targets"u8);
        foreach (var t in _forecaster.Targets) w.WriteStringValue(t);
        w.WriteEndArray();
        double period = PeriodMs();
        int h = _forecaster.Horizon, nt = _forecaster.Targets.Count;
        w.WriteStartArray("horizon_ts"u8);
        for (int s = 1; s <= h; s++) w.WriteNumberValue(ts + (long)Math.Round(s * period));
        w.WriteEndArray();
        // values[step][target], sensor units; lower/upper: the prediction interval of each value (same shape, null = none yet)
        WriteGrid(w, "values"u8, _forecast, h, nt);
        WriteGrid(w, "lower"u8, _lower, h, nt);
        WriteGrid(w, "upper"u8, _upper, h, nt);
        if (_forecaster.LeadingExpert is { } lead) w.WriteString("leading_expert"u8, lead);
        var st = _forecaster.Stats;
        w.WriteStartObject("fine_tune"u8);
        w.WriteNumber("updates"u8, st.Updates);
        w.WriteNumber("rollbacks"u8, st.Rollbacks);
        if (double.IsFinite(st.LastLoss)) w.WriteNumber("loss"u8, st.LastLoss); else w.WriteNull("loss"u8);
        w.WriteEndObject();
        w.WriteEndObject();
        w.Flush();
    }

    private static void WriteGrid(Utf8JsonWriter w, ReadOnlySpan<byte> name, float[] grid, int h, int nt)
    {
        w.WriteStartArray(name);
        for (int s = 0; s < h; s++)
        {
            w.WriteStartArray();
            for (int t = 0; t < nt; t++)
            {
                float v = grid[s * nt + t];
                if (float.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue();
            }
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    /// <summary>Model identity + the forecaster's own checkpoint. Call only between steps (source thread, or source stopped).</summary>
    public byte[] CaptureCheckpoint() =>
        CheckpointCodec.EncodeBody(new CheckpointIdentity(_forecaster.ModelName, _forecaster.ModelVersion, _lastTs), _forecaster);

    /// <summary>Restores from a checkpoint payload; false (with the reason logged) if it belongs to another model or does not load.</summary>
    public bool RestoreCheckpoint(byte[] payload, long generation)
    {
        try
        {
            var id = CheckpointCodec.ReadIdentity(payload);
            if (id.Model != _forecaster.ModelName || id.ModelVersion != _forecaster.ModelVersion)
            {
                _log.LogWarning("stream {Stream}: checkpoint generation {Gen} is for model {Model} {Version}, not {Now} {NowVersion}: starting fresh",
                    Name, generation, id.Model, id.ModelVersion, _forecaster.ModelName, _forecaster.ModelVersion);
                return false;
            }
            long lastTs = CheckpointCodec.Restore(payload, _forecaster).LastTimestampMs;
            _restored = true;
            _lastTs = lastTs;
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or EndOfStreamException or ArgumentException or FormatException)
        {
            _log.LogWarning("stream {Stream}: checkpoint generation {Gen} does not load ({Error})", Name, generation, e.Message);
            return false;
        }
    }
}
