namespace EdgeRnn.Forecasting;

/// <summary>
/// Keeps online fine-tuning from making a stream worse. The shipped (frozen) network runs beside the fine-tuned one on the
/// same inputs; every forecast of both is scored, strictly causally, as its truth arrives, and the served correction is
///   served = frozen + w · (tuned − frozen),        w ∈ [0, 1]   (0 = the shipped model, 1 = the fine-tuned one)
/// w is the least-squares weight of the disagreement d = tuned − frozen on the frozen model's error e = y − frozen over the
/// recently scored cells (every horizon step and target): w = Σ e·d / Σ d², exponentially forgotten. The tuned model beats
/// the frozen one on those cells exactly when w > ½. Both models share the skip path, so d is the difference of the two
/// networks' outputs. Σ e·d grows with the size of the errors, so after a level shift (large frozen errors that the tuned
/// model learns away) the evidence for the tuned model arrives within about H rows.
///
/// How recent is "recently" depends on the stream: on a stable weekly series the tuned model's edge comes and goes within
/// days (a short memory follows it), on a drifting one a short memory only adds noise to w. So two estimates run, over
/// <c>memory</c> and 8 × <c>memory</c> rows, and a slow judge (64 × <c>memory</c> rows) serves the one whose own served
/// forecasts have scored better, each scored with the weight it had when the forecast was made.
///
/// The learner is untouched: it keeps adapting whatever is served, so the guard serves the tuned model as soon as it is
/// better. Memory: 2 · H · H · C floats (rings of the last H forecasts). CPU per sample: about 6 · H · C multiply-adds,
/// plus the frozen network's step, which the caller runs. Allocation-free and deterministic.
/// </summary>
public sealed class ForecastGuard
{
    private readonly int _h, _c, _hc;
    private readonly float[] _frozen;   // [H slots, H·C] normalized frozen forecast made at row r (slot r % H)
    private readonly float[] _diff;     // [H slots, H·C] normalized tuned − frozen of that forecast
    private readonly long[] _rowOf;     // [H slots] row whose forecast the slot holds (-1 = none)
    private readonly float[] _wAt;      // [H slots, 2] short and long weights in force when that forecast was made
    private readonly double _decayShort, _decayLong, _decayJudge;
    private double _sedS, _sddS;        // short memory: forgotten Σ e·d, Σ d²
    private double _sedL, _sddL, _seeL; // long memory: Σ e·d, Σ d², Σ e²
    private double _lossS, _lossL;      // judge: forgotten squared error of the short- and the long-memory blends
    private float _wS, _wL, _w;         // short, long and served weight
    private long _row;                  // rows whose truth has been scored

    /// <param name="horizon">forecast steps H</param>
    /// <param name="targets">targets C</param>
    /// <param name="memory">rows of evidence of the short estimate (time constant of its forgetting)</param>
    public ForecastGuard(int horizon, int targets, int memory)
    {
        if (memory < 1) throw new ArgumentOutOfRangeException(nameof(memory), "guard memory must be at least one row");
        _h = horizon; _c = targets; _hc = horizon * targets;
        _frozen = new float[_h * _hc]; _diff = new float[_h * _hc];
        _rowOf = new long[_h]; Array.Fill(_rowOf, -1);
        _wAt = new float[2 * _h];
        _decayShort = 1.0 - 1.0 / memory;
        _decayLong = 1.0 - 1.0 / (8.0 * memory);
        _decayJudge = 1.0 - 1.0 / (64.0 * memory);
    }

    /// <summary>Served weight of the fine-tuned model (0 = the shipped model, 1 = the fine-tuned one).</summary>
    public float Weight => _w;

    /// <summary>
    /// Relative MSE change of the fine-tuned model against the shipped one over the long memory:
    /// (Σ(e−d)² − Σe²) / Σe² (negative = fine-tuning helps). NaN before any evidence.
    /// </summary>
    public double TunedVsFrozen => _seeL > 0 ? (_sddL - 2 * _sedL) / _seeL : double.NaN;

    /// <summary>
    /// Scores the forecasts made at rows t−1−k (step k) against the truth of row t = the next row, then updates the weights.
    /// truth: [C] normalized, NaN = missing (not scored). Call once per row, before <see cref="Serve"/> for that row.
    /// </summary>
    public void Score(ReadOnlySpan<float> truth)
    {
        long t = _row++;
        double ed = 0, dd = 0, ee = 0, ls = 0, ll = 0;
        for (int k = 0; k < _h; k++)
        {
            long r = t - 1 - k;
            if (r < 0) break;
            int slot = (int)(r % _h);
            if (_rowOf[slot] != r) continue;
            int o = slot * _hc + k * _c;
            double ws = _wAt[2 * slot], wl = _wAt[2 * slot + 1];
            for (int c = 0; c < _c; c++)
            {
                float y = truth[c];
                if (!float.IsFinite(y)) continue;
                double e = y - _frozen[o + c], d = _diff[o + c];
                ed += e * d; dd += d * d; ee += e * e;
                double es = e - ws * d, el = e - wl * d;
                ls += es * es; ll += el * el;
            }
        }
        _sedS = _decayShort * _sedS + ed; _sddS = _decayShort * _sddS + dd;
        _sedL = _decayLong * _sedL + ed; _sddL = _decayLong * _sddL + dd; _seeL = _decayLong * _seeL + ee;
        _lossS = _decayJudge * _lossS + ls; _lossL = _decayJudge * _lossL + ll;
        // No disagreement yet: the models are the same, serve the shipped one.
        _wS = _sddS > 1e-12 ? (float)Math.Clamp(_sedS / _sddS, 0, 1) : 0f;
        _wL = _sddL > 1e-12 ? (float)Math.Clamp(_sedL / _sddL, 0, 1) : 0f;
        _w = _lossS < _lossL ? _wS : _wL;
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
        int slot = (int)(Math.Max(r, 0) % _h), o = slot * _hc;
        _rowOf[slot] = record && r >= 0 ? r : -1;
        _wAt[2 * slot] = _wS; _wAt[2 * slot + 1] = _wL;
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
        foreach (float v in _wAt) w.Write(v);
        w.Write(_sedS); w.Write(_sddS); w.Write(_sedL); w.Write(_sddL); w.Write(_seeL); w.Write(_lossS); w.Write(_lossL);
        w.Write(_wS); w.Write(_wL); w.Write(_w);
    }

    public void Read(BinaryReader r)
    {
        int h = r.ReadInt32(), c = r.ReadInt32();
        if (h != _h || c != _c) throw new InvalidDataException($"checkpoint guard is for horizon {h} × {c} targets, the model has {_h} × {_c}");
        long row = r.ReadInt64();
        if (row < 0) throw new InvalidDataException("checkpoint guard row count is negative");
        var frozen = new float[_frozen.Length]; var diff = new float[_diff.Length]; var rowOf = new long[_h]; var wAt = new float[_wAt.Length];
        for (int i = 0; i < frozen.Length; i++) frozen[i] = r.ReadSingle();
        for (int i = 0; i < diff.Length; i++) diff[i] = r.ReadSingle();
        for (int i = 0; i < rowOf.Length; i++) rowOf[i] = r.ReadInt64();
        for (int i = 0; i < wAt.Length; i++) wAt[i] = r.ReadSingle();
        var sums = new double[7];
        for (int i = 0; i < sums.Length; i++) sums[i] = r.ReadDouble();
        var ws = new float[3];
        for (int i = 0; i < ws.Length; i++) ws[i] = r.ReadSingle();
        foreach (double s in sums) if (!double.IsFinite(s)) throw new InvalidDataException("checkpoint guard holds non-finite sums");
        foreach (float v in ws) if (!(v >= 0 && v <= 1)) throw new InvalidDataException("checkpoint guard weight outside [0, 1]");
        foreach (float v in wAt) if (!(v >= 0 && v <= 1)) throw new InvalidDataException("checkpoint guard weight outside [0, 1]");
        _row = row;
        frozen.CopyTo(_frozen, 0); diff.CopyTo(_diff, 0); rowOf.CopyTo(_rowOf, 0); wAt.CopyTo(_wAt, 0);
        (_sedS, _sddS, _sedL, _sddL, _seeL, _lossS, _lossL) = (sums[0], sums[1], sums[2], sums[3], sums[4], sums[5], sums[6]);
        (_wS, _wL, _w) = (ws[0], ws[1], ws[2]);
    }
}
