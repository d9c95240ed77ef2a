namespace EdgeRnn.Forecasting;

/// <summary>
/// Keeps online fine-tuning from making a stream worse. The shipped (frozen) network runs beside the fine-tuned one on the
/// same inputs; every forecast of both is scored, strictly causally, as its truth arrives, and the served correction is
///   served = frozen + w · (tuned − frozen),        w ∈ [0, 1]
/// where w is the least-squares weight of the disagreement d = tuned − frozen on the frozen model's error e = y − frozen
/// over the recently scored cells (every horizon step and target): w = Σ e·d / Σ d², exponentially forgotten with a time
/// constant of <c>memory</c> rows (short: the tuned model's edge comes and goes with the weeks, and a long memory keeps
/// serving yesterday's verdict). w = 1 is the fine-tuned model, 0 the
/// shipped one; the tuned model beats the frozen one on the scored cells exactly when w* > ½. Both models share the skip
/// path, so d is just the difference of the two networks' outputs. Σ e·d is weighted by the size of the errors, so after a
/// level shift (large frozen errors the tuned model learns away) the evidence for the tuned model arrives within ~H rows.
/// The learner is untouched: it keeps adapting whatever is served, so a guard that served the frozen model yesterday
/// serves the tuned one as soon as it is better.
/// Memory: two rings of the last H forecasts, 2 · H · H · C floats. CPU per sample: about 3 · H · C multiply-adds (plus the
/// frozen network's step, which the caller runs). Allocation-free and deterministic.
/// </summary>
public sealed class ForecastGuard
{
    private readonly int _h, _c, _hc;
    private readonly float[] _frozen;   // [H slots, H·C] normalized frozen forecast made at row r (slot r % H)
    private readonly float[] _diff;     // [H slots, H·C] normalized tuned − frozen of that forecast
    private readonly long[] _rowOf;     // [H slots] row whose forecast the slot holds (-1 = none)
    private double _sed, _sdd, _see;    // forgotten sums over the scored cells: e·d, d², e²
    private float _w;                   // served weight of the tuned model
    private readonly double _decay;
    private long _row;                  // rows whose truth has been scored

    /// <param name="horizon">forecast steps H</param>
    /// <param name="targets">targets C</param>
    /// <param name="memory">rows of evidence (time constant of the exponential forgetting)</param>
    public ForecastGuard(int horizon, int targets, int memory)
    {
        if (memory < 1) throw new ArgumentOutOfRangeException(nameof(memory), "guard memory must be at least one row");
        _h = horizon; _c = targets; _hc = horizon * targets;
        _frozen = new float[_h * _hc]; _diff = new float[_h * _hc];
        _rowOf = new long[_h]; Array.Fill(_rowOf, -1);
        _decay = 1.0 - 1.0 / memory;
    }

    /// <summary>Served weight of the fine-tuned model (0 = the shipped model, 1 = the fine-tuned one).</summary>
    public float Weight => _w;

    /// <summary>
    /// Relative MSE change of the fine-tuned model against the shipped one on the recent scored cells:
    /// (Σ(e−d)² − Σe²) / Σe² (negative = fine-tuning helps). NaN before any evidence.
    /// </summary>
    public double TunedVsFrozen
    {
        get => _see > 0 ? (_sdd - 2 * _sed) / _see : double.NaN;
    }

    /// <summary>
    /// Scores the forecasts made at rows t−1−k (step k) against the truth of row t = the next row, then updates the weights.
    /// truth: [C] normalized, NaN = missing (not scored). Call once per row, before <see cref="Serve"/> for that row.
    /// </summary>
    public void Score(ReadOnlySpan<float> truth)
    {
        long t = _row++;
        _sed *= _decay; _sdd *= _decay; _see *= _decay;
        for (int k = 0; k < _h; k++)
        {
            long r = t - 1 - k;
            if (r < 0) continue;
            int slot = (int)(r % _h);
            if (_rowOf[slot] != r) continue;
            int o = slot * _hc + k * _c;
            for (int c = 0; c < _c; c++)
            {
                float y = truth[c];
                if (!float.IsFinite(y)) continue;
                double e = y - _frozen[o + c], d = _diff[o + c];
                _sed += e * d; _sdd += d * d; _see += e * e;
            }
        }
        // No disagreement yet: the models are the same, serve the shipped one.
        _w = _sdd > 1e-12 ? (float)Math.Clamp(_sed / _sdd, 0, 1) : 0f;
    }

    /// <summary>
    /// The forecast of the row just scored: records both models' outputs and rewrites <paramref name="forecast"/> (the
    /// tuned forecast, raw [H, C]) into the served blend. tunedNet / frozenNet: [H·C] raw corrections of the two networks;
    /// skipNorm: [H·C] normalized skip forecast; std: [C] target scales. record = false for forecasts not to be scored (warm-up).
    /// </summary>
    public void Serve(ReadOnlySpan<float> tunedNet, ReadOnlySpan<float> frozenNet, ReadOnlySpan<float> skipNorm,
        ReadOnlySpan<float> std, Span<float> forecast, bool record)
    {
        long r = _row - 1;
        int slot = (int)(r % _h), o = slot * _hc;
        _rowOf[slot] = record && r >= 0 ? r : -1;
        float keep = 1 - _w;
        for (int k = 0; k < _h; k++)
            for (int c = 0; c < _c; c++)
            {
                int j = k * _c + c;
                float d = tunedNet[j] - frozenNet[j];
                _frozen[o + j] = skipNorm[j] + frozenNet[j] / std[c];
                _diff[o + j] = d / std[c];
                forecast[j] -= keep * d;
            }
    }

    public void Write(BinaryWriter w)
    {
        w.Write(_h); w.Write(_c); w.Write(_row);
        foreach (float v in _frozen) w.Write(v);
        foreach (float v in _diff) w.Write(v);
        foreach (long v in _rowOf) w.Write(v);
        w.Write(_sed); w.Write(_sdd); w.Write(_see); w.Write(_w);
    }

    public void Read(BinaryReader r)
    {
        int h = r.ReadInt32(), c = r.ReadInt32();
        if (h != _h || c != _c) throw new InvalidDataException($"checkpoint guard is for horizon {h} × {c} targets, the model has {_h} × {_c}");
        long row = r.ReadInt64();
        var frozen = new float[_frozen.Length]; var diff = new float[_diff.Length]; var rowOf = new long[_h];
        for (int i = 0; i < frozen.Length; i++) frozen[i] = r.ReadSingle();
        for (int i = 0; i < diff.Length; i++) diff[i] = r.ReadSingle();
        for (int i = 0; i < _h; i++) rowOf[i] = r.ReadInt64();
        double sed = r.ReadDouble(), sdd = r.ReadDouble(), see = r.ReadDouble();
        float w = r.ReadSingle();
        if (!double.IsFinite(sed) || !(sdd >= 0) || !(see >= 0) || !double.IsFinite(sdd + see)) throw new InvalidDataException("checkpoint guard holds invalid sums");
        if (!(w >= 0 && w <= 1)) throw new InvalidDataException("checkpoint guard weight outside [0, 1]");
        if (row < 0) throw new InvalidDataException("checkpoint guard row count is negative");
        _row = row;
        frozen.CopyTo(_frozen, 0); diff.CopyTo(_diff, 0); rowOf.CopyTo(_rowOf, 0);
        _sed = sed; _sdd = sdd; _see = see; _w = w;
    }
}
