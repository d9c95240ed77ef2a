namespace EdgeRnn.Ingest;

/// <summary>What the model is given for a channel whose value is missing (a gap, NaN/Inf, out of range).</summary>
public enum GapPolicy
{
    /// <summary>The last valid value, for at most <see cref="ConditionerOptions.MaxHoldMs"/>; NaN after that.</summary>
    Hold,
    /// <summary>NaN at once, so the model is told the value is missing.</summary>
    MarkMissing,
}

public sealed record ConditionerOptions(long PeriodMs)
{
    public GapPolicy GapPolicy { get; init; } = GapPolicy.Hold;
    /// <summary>Longest a value is held (Hold policy); default 5 periods.</summary>
    public long? MaxHoldMs { get; init; }
    /// <summary>Input spacing above which the stretch in between is a gap rather than interpolated; default 3 periods.</summary>
    public long? MaxGapMs { get; init; }
    /// <summary>Per-channel valid range (inclusive); null for none.</summary>
    public float[]? Min { get; init; }
    public float[]? Max { get; init; }
    /// <summary>
    /// A jump of more output steps than this (clock jump, days of silence) restarts the grid instead of filling it.
    /// </summary>
    public int MaxFillSteps { get; init; } = 10_000;
    /// <summary>
    /// A sample more than this many periods older than the newest is not late (jitter, a redelivery) but a clock that went
    /// back: the grid restarts from it rather than dropping everything until the clock catches up again.
    /// </summary>
    public int MaxLateSteps { get; init; } = 60;
}

/// <summary>
/// An <see cref="ISampleSink"/> decorator between a source and the model: rejects and counts NaN/Inf and out-of-range values
/// (they are never passed on as numbers), resamples every stream onto a grid of multiples of the model's period by linear
/// interpolation between consecutive inputs, and fills gaps per <see cref="GapPolicy"/> through <see cref="MissingValues"/>
/// (the one missing-value policy; missing is NaN, explicitly).
/// Out-of-order and wrong-width samples are dropped and counted; a jump forward beyond MaxFillSteps periods or back beyond
/// MaxLateSteps periods restarts the grid (counted in grid_resets), so no single bad timestamp can freeze a stream. Per stream state is allocated once; nothing per sample.
/// Emits on the source's thread, like any sink; not thread-safe, so use one conditioner per source.
/// </summary>
public sealed class SampleConditioner : ISampleSink
{
    private sealed class State(int n)
    {
        public bool Started;
        public long PrevTs;
        public long NextGrid;
        public readonly float[] Prev = new float[n];     // cleaned previous input (NaN where missing)
        public readonly float[] Cur = new float[n];
        public readonly float[] Held = new float[n];     // last valid value per channel
        public readonly long[] HeldTs = new long[n];
        public readonly float[] Out = new float[n];
    }

    private readonly ISampleSink _inner;
    private readonly int _channels;
    private readonly ConditionerOptions _o;
    private readonly long _maxGap;
    private readonly MissingValues _missing; // the hold decision (Hold: MaxHoldMs; MarkMissing: never)
    private readonly Dictionary<string, State> _streams = new(StringComparer.Ordinal);
    private long _accepted, _emitted, _nonFinite, _outOfRange, _outOfOrder, _wrongWidth, _missingOut, _heldOut, _resets;

    public SampleConditioner(ISampleSink inner, int channels, ConditionerOptions options)
    {
        if (options.PeriodMs <= 0) throw new ArgumentException("period must be positive", nameof(options));
        if (options.Min is { } mn && mn.Length != channels || options.Max is { } mx && mx.Length != channels)
            throw new ArgumentException($"ranges need {channels} entries", nameof(options));
        _inner = inner;
        _channels = channels;
        _o = options;
        _missing = options.GapPolicy == GapPolicy.Hold ? new MissingValues(options.MaxHoldMs ?? 5 * options.PeriodMs) : MissingValues.MarkMissing;
        _maxGap = options.MaxGapMs ?? 3 * options.PeriodMs;
    }

    public IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["accepted"] = _accepted,
        ["emitted"] = _emitted,
        ["rejected_nonfinite"] = _nonFinite,
        ["rejected_out_of_range"] = _outOfRange,
        ["dropped_out_of_order"] = _outOfOrder,
        ["dropped_wrong_width"] = _wrongWidth,
        ["emitted_missing_values"] = _missingOut,
        ["emitted_held_values"] = _heldOut,
        ["grid_resets"] = _resets,
    };

    public void OnSample(string stream, long timestampMs, ReadOnlySpan<float> values)
    {
        if (values.Length != _channels) { _wrongWidth++; return; }
        if (!_streams.TryGetValue(stream, out var s)) _streams[stream] = s = new State(_channels);
        if (s.Started && timestampMs <= s.PrevTs)
        {
            // a little late: jitter, dropped; far behind: the clock went back, so the grid starts again from here
            if ((s.PrevTs - timestampMs) / _o.PeriodMs <= _o.MaxLateSteps) { _outOfOrder++; return; }
            s.Started = false;
            _resets++;
        }
        _accepted++;

        for (int i = 0; i < _channels; i++)
        {
            float v = values[i];
            if (!float.IsFinite(v)) { _nonFinite++; v = float.NaN; }
            else if (_o.Min is { } mn && v < mn[i] || _o.Max is { } mx && v > mx[i]) { _outOfRange++; v = float.NaN; }
            s.Cur[i] = v;
        }

        long period = _o.PeriodMs;
        if (!s.Started || (timestampMs - s.NextGrid) / period > _o.MaxFillSteps)
        {
            if (s.Started) _resets++;
            s.Started = true;
            s.NextGrid = CeilTo(timestampMs, period);
            for (int i = 0; i < _channels; i++) { s.Prev[i] = float.NaN; s.HeldTs[i] = long.MinValue / 2; }
            s.PrevTs = timestampMs - 1;
            if (s.NextGrid == timestampMs)
            {
                Emit(stream, s, timestampMs, timestampMs, exact: true);
                s.NextGrid += period;
            }
            Advance(s, timestampMs);
            return;
        }

        bool gap = timestampMs - s.PrevTs > _maxGap;
        while (s.NextGrid <= timestampMs)
        {
            Emit(stream, s, s.NextGrid, timestampMs, exact: s.NextGrid == timestampMs, gap);
            s.NextGrid += period;
        }
        Advance(s, timestampMs);
    }

    private void Advance(State s, long ts)
    {
        for (int i = 0; i < _channels; i++)
        {
            float v = s.Cur[i];
            s.Prev[i] = v;
            if (!MissingValues.IsMissing(v)) { s.Held[i] = v; s.HeldTs[i] = ts; }
        }
        s.PrevTs = ts;
    }

    /// <summary>One output row at grid time g, between the previous input (s.PrevTs) and the current one (ts).</summary>
    private void Emit(string stream, State s, long g, long ts, bool exact, bool gap = false)
    {
        for (int i = 0; i < _channels; i++)
        {
            float cur = s.Cur[i], prev = s.Prev[i];
            float v;
            if (exact) v = cur;
            else if (!gap && !float.IsNaN(prev) && !float.IsNaN(cur))
                v = prev + (cur - prev) * ((g - s.PrevTs) / (float)(ts - s.PrevTs));
            else v = float.NaN;
            if (MissingValues.IsMissing(v) && _missing.MayHold(s.HeldTs[i], g))
            {
                v = s.Held[i];
                _heldOut++;
            }
            if (MissingValues.IsMissing(v)) _missingOut++;
            s.Out[i] = v;
        }
        _emitted++;
        _inner.OnSample(stream, g, s.Out);
    }

    private static long CeilTo(long t, long p)
    {
        long r = t % p;
        if (r < 0) r += p;
        return r == 0 ? t : t + (p - r);
    }
}
