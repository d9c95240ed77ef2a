using EdgeRnn.Forecasting.Intervals;

namespace EdgeRnn.Forecasting.Experts;

/// <summary>
/// Online aggregation of E expert forecasts, one exponentially weighted average forecaster per forecast cell (horizon
/// step k × target c) under squared loss on the normalized scale:
///   w_e ∝ exp(−η · L_e),   L_e = forgotten cumulative squared error of expert e,   served = Σ_e w_e f_e
/// Squared loss is η-exp-concave for η ≤ 1 / (2 B²) when errors stay within B, and then the exponentially weighted
/// average has regret at most ln E / η against the best expert, constant in time (Kivinen and Warmuth 1999; Cesa-Bianchi
/// and Lugosi 2006, §3.3). B is unknown and drifts, so the rate is set from the scale of the errors actually seen:
/// η = 1 / (2 v̂ (k + 1)) with v̂ the forgotten mean of the aggregate's own (hedge) squared error in the cell and k + 1 the
/// feedback delay of step k (0-based; rows until its truth arrives; capped at memory / 20): scale-free, nothing
/// to tune per stream. L and v̂ are forgotten with time constant <c>memory</c> (default 1000 forecasts) so the weights
/// follow a drifting stream (a tracking variant: the bound then holds per window of about <c>memory</c> forecasts).
///
/// Delayed feedback: the forecast made at row r for step k is scored only when row r + 1 + k arrives; the weights in force
/// are always those computed from losses already observed. The aggregate's own residual on each cell feeds
/// <see cref="ConformalIntervals"/>. Rings of the last H rows' expert forecasts, served forecasts and issued radii are kept
/// (and exposed) so other consumers (anomaly scores) can read residuals per expert and step. Allocation-free.
/// CPU per row: about 2 · E · H · C exponentials. Memory: (E + 2) · H · H · C values.
/// </summary>
public sealed class HedgeAggregate
{
    private readonly int _e, _h, _c, _hc;
    private readonly float[] _fc;      // [H slots, E, HC] expert forecasts made at row r (slot r % H)
    private readonly float[] _served;  // [H slots, HC]
    private readonly float[] _radius;  // [H slots, HC] interval radius issued with that forecast
    private readonly long[] _rowOf;    // [H slots] row whose forecasts the slot holds (−1 = none)
    private readonly double[] _loss;   // [HC, E] forgotten cumulative losses
    private readonly double[] _scale;  // [HC] forgotten sum of the hedge loss (the loss scale behind η)
    private readonly double[] _count;  // [HC] forgotten count of scored forecasts
    private readonly float[] _w;       // [HC, E] current weights
    private readonly double[] _se;     // [E + 1] squared error sums of every expert and the aggregate (scored cells)
    private readonly float[] _lastResidual; // [HC] aggregate residual of the most recently scored forecast of each cell
    private readonly double _decay, _delayCap;
    /// <summary>η times the loss scale: η = Rate / (v̂ · delay) (v̂ = recent mean squared error of the aggregate in the cell, delay = step + 1).</summary>
    public const double Rate = 0.5;
    private long _row, _scoredCells;
    public ConformalIntervals Intervals { get; }

    /// <param name="experts">E</param>
    /// <param name="horizon">H</param>
    /// <param name="targets">C</param>
    /// <param name="memory">forgetting time constant of the losses and the loss scale (scored forecasts per cell)</param>
    /// <param name="coverage">nominal coverage of the intervals</param>
    public HedgeAggregate(int experts, int horizon, int targets, double memory = 1000, double coverage = 0.9)
    {
        if (experts < 1) throw new ArgumentOutOfRangeException(nameof(experts));
        _e = experts; _h = horizon; _c = targets; _hc = horizon * targets;
        _fc = new float[_h * _e * _hc]; _served = new float[_h * _hc]; _radius = new float[_h * _hc];
        _rowOf = new long[_h]; Array.Fill(_rowOf, -1);
        _loss = new double[_hc * _e]; _scale = new double[_hc]; _count = new double[_hc];
        _w = new float[_hc * _e]; Array.Fill(_w, 1f / _e);
        _se = new double[_e + 1];
        _lastResidual = new float[_hc]; Array.Fill(_lastResidual, float.NaN);
        _decay = memory > 0 ? 1.0 - 1.0 / memory : 1.0;
        _delayCap = memory > 0 ? Math.Max(1.0, memory / 20) : double.PositiveInfinity;
        Intervals = new ConformalIntervals(_hc, coverage);
    }

    public int Experts => _e;
    /// <summary>[HC, E] current weights (cell-major: weights of cell k·C + c are at [(k·C + c)·E ..]).</summary>
    public ReadOnlySpan<float> Weights => _w;
    /// <summary>[HC] residual (truth − served, normalized) of the latest scored forecast of each cell (NaN before).</summary>
    public ReadOnlySpan<float> LastResiduals => _lastResidual;
    /// <summary>Mean squared error of expert e (e = Experts: the aggregate) over every scored forecast cell.</summary>
    public double Mse(int e) => _scoredCells == 0 ? double.NaN : _se[e] / _scoredCells;
    public long ScoredCells => _scoredCells;

    /// <summary>Mean weight of expert e over the cells of horizon step k (all targets).</summary>
    public double StepWeight(int k, int e)
    {
        double s = 0;
        for (int c = 0; c < _c; c++) s += _w[(k * _c + c) * _e + e];
        return s / _c;
    }

    /// <summary>Mean weight of expert e over every cell.</summary>
    public double MeanWeight(int e)
    {
        double s = 0;
        for (int j = 0; j < _hc; j++) s += _w[j * _e + e];
        return s / _hc;
    }

    /// <summary>
    /// Scores the forecasts made at rows t−1−k (step k) against the truth of row t (the next row), then updates the
    /// weights and the intervals. truth: [C] normalized, NaN = missing (not scored). Call once per row, before Combine.
    /// </summary>
    public void Score(ReadOnlySpan<float> truth)
    {
        long t = _row++;
        for (int k = 0; k < _h; k++)
        {
            long r = t - 1 - k;
            if (r < 0) break;
            int slot = (int)(r % _h);
            if (_rowOf[slot] != r) continue;
            for (int c = 0; c < _c; c++)
            {
                float y = truth[c];
                if (!float.IsFinite(y)) continue;
                int cell = k * _c + c;
                int so = slot * _hc + cell;
                double res = y - _served[so];
                _lastResidual[cell] = (float)res;
                _se[_e] += res * res;
                _scoredCells++;
                Intervals.Observe(cell, res, _radius[so]);
                Update(cell, slot, y);
            }
        }
    }

    private void Update(int cell, int slot, float y)
    {
        int lo = cell * _e;
        double h = 0, minL = double.PositiveInfinity;
        for (int e = 0; e < _e; e++)
        {
            double d = y - _fc[(slot * _e + e) * _hc + cell];
            double l = d * d;
            _se[e] += l;
            h += _w[lo + e] * l;
            double cum = _decay * _loss[lo + e] + l;
            _loss[lo + e] = cum;
            if (cum < minL) minL = cum;
        }
        // Loss scale v̂: forgotten mean of the aggregate's (hedge) squared error, with its own count (no bias early on).
        _scale[cell] = _decay * _scale[cell] + h;
        _count[cell] = _decay * _count[cell] + 1;
        double v = _scale[cell] / _count[cell];
        // Step k's forecasts are scored k + 1 rows late, and the k + 1 forecasts in flight for one cell share most of their
        // future (their errors are strongly correlated): the rate is divided by the delay, as delayed-feedback exponential
        // weighting needs for its regret bound (Weinberger and Ordentlich 2002; Joulani, György and Szepesvári 2013).
        // The forgotten losses span about `memory` forecasts, i.e. memory / delay nearly independent ones: the delay counted
        // is capped at memory / 20 so that the window always holds 20 of them (otherwise, at long horizons, no expert can be
        // told from another within the memory and the weights stay near uniform).
        double delay = Math.Min(cell / _c + 1, _delayCap);
        double eta = v > 0 ? Rate / (v * delay) : 0;
        double sum = 0;
        for (int e = 0; e < _e; e++)
        {
            double x = eta * (_loss[lo + e] - minL);
            double wv = x < 700 ? Math.Exp(-x) : 0;
            _w[lo + e] = (float)wv;
            sum += wv;
        }
        for (int e = 0; e < _e; e++) _w[lo + e] = (float)(_w[lo + e] / sum);
    }

    /// <summary>
    /// The served forecast for the row just scored: served[j] = Σ_e w[j, e] · experts[e, j] (normalized, [H·C]) and the
    /// interval radius of each cell (NaN before its first residual). experts: [E, H·C]. record = false: not scored (warm-up).
    /// </summary>
    public void Combine(ReadOnlySpan<float> experts, Span<float> served, Span<float> radius, bool record)
    {
        long r = _row - 1;
        int slot = (int)(Math.Max(r, 0) % _h);
        _rowOf[slot] = record && r >= 0 ? r : -1;
        experts.Slice(0, _e * _hc).CopyTo(_fc.AsSpan(slot * _e * _hc, _e * _hc));
        for (int j = 0; j < _hc; j++)
        {
            double s = 0;
            int lo = j * _e;
            for (int e = 0; e < _e; e++) s += _w[lo + e] * experts[e * _hc + j];
            float v = (float)s;
            float q = Intervals.Radius(j);
            served[j] = v; radius[j] = q;
            _served[slot * _hc + j] = v; _radius[slot * _hc + j] = q;
        }
    }

    public void Write(BinaryWriter w)
    {
        w.Write(_e); w.Write(_h); w.Write(_c); w.Write(_row); w.Write(_scoredCells);
        StateIO.Write(w, _fc); StateIO.Write(w, _served); StateIO.Write(w, _radius); StateIO.Write(w, _rowOf);
        StateIO.Write(w, _loss); StateIO.Write(w, _scale); StateIO.Write(w, _count); StateIO.Write(w, _w); StateIO.Write(w, _se); StateIO.Write(w, _lastResidual);
        Intervals.Write(w);
    }

    public void Read(BinaryReader r)
    {
        int e = r.ReadInt32(), h = r.ReadInt32(), c = r.ReadInt32();
        if (e != _e || h != _h || c != _c) throw new InvalidDataException($"checkpoint aggregate is for {e} experts × horizon {h} × {c} targets, this forecaster has {_e} × {_h} × {_c}");
        long row = r.ReadInt64(), scored = r.ReadInt64();
        if (row < 0 || scored < 0) throw new InvalidDataException("checkpoint aggregate counters are negative");
        _row = row; _scoredCells = scored;
        StateIO.Read(r, _fc, "aggregate forecasts"); StateIO.Read(r, _served, "aggregate served"); StateIO.Read(r, _radius, "aggregate radii");
        StateIO.Read(r, _rowOf, "aggregate rows"); StateIO.Read(r, _loss, "aggregate losses"); StateIO.Read(r, _scale, "aggregate loss scale"); StateIO.Read(r, _count, "aggregate counts");
        StateIO.Read(r, _w, "aggregate weights"); StateIO.Read(r, _se, "aggregate errors"); StateIO.Read(r, _lastResidual, "aggregate residuals");
        foreach (float v in _w) if (!(v >= 0 && v <= 1)) throw new InvalidDataException("checkpoint aggregate weight outside [0, 1]");
        Intervals.Read(r);
    }
}
