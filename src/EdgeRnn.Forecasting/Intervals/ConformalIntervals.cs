namespace EdgeRnn.Forecasting.Intervals;

/// <summary>
/// Online conformal prediction intervals (quantile tracking, Angelopoulos, Candès and Tibshirani 2023, "Conformal PID
/// control"; the additive form of adaptive conformal inference): per forecast cell (horizon step × target) a radius q on the
/// normalized scale, served as [forecast − q, forecast + q]. When the truth of a forecast arrives:
///   q ← max(0, q + η · (miss − α))        miss = 1 if |truth − forecast| > q_issued, α = 1 − coverage
/// For any sequence, bounded or not stationary, the long-run miss rate of each cell converges to α (|rate − α| ≤
/// (q_max + η) / (η · T)). η is scale-free: a fixed fraction of the cell's running mean absolute residual.
/// Allocation-free; memory 3 · H · C values.
/// </summary>
public sealed class ConformalIntervals
{
    private readonly double[] _q;      // [H·C] current radius
    private readonly double[] _scale;  // [H·C] running mean |residual|
    private readonly double _alpha, _rate, _decay;
    private long _covered, _scored;

    /// <param name="cells">H · C</param>
    /// <param name="coverage">nominal coverage, e.g. 0.90</param>
    /// <param name="rate">step size as a fraction of the running mean absolute residual</param>
    /// <param name="memory">time constant of that running mean (scored forecasts)</param>
    public ConformalIntervals(int cells, double coverage = 0.9, double rate = 0.1, double memory = 200)
    {
        if (!(coverage > 0 && coverage < 1)) throw new ArgumentOutOfRangeException(nameof(coverage), $"interval coverage must lie in (0, 1), got {coverage}");
        _q = new double[cells]; _scale = new double[cells];
        Array.Fill(_q, double.NaN);
        _alpha = 1 - coverage; _rate = rate; _decay = 1.0 - 1.0 / memory;
    }

    public double Coverage => 1 - _alpha;
    /// <summary>Fraction of scored forecast values that fell inside their interval (NaN before any).</summary>
    public double RunningCoverage => _scored == 0 ? double.NaN : (double)_covered / _scored;
    public long Scored => _scored;

    /// <summary>Radius now for a cell (normalized units; NaN before its first residual).</summary>
    public float Radius(int cell) => (float)_q[cell];

    /// <summary>A forecast of cell whose interval had radius issued (NaN = none yet) missed its truth by residual.</summary>
    public void Observe(int cell, double residual, double issued)
    {
        double a = Math.Abs(residual);
        if (!double.IsFinite(a)) return;
        _scale[cell] = _scale[cell] == 0 ? a : _decay * _scale[cell] + (1 - _decay) * a;
        if (double.IsNaN(_q[cell])) { _q[cell] = 1.645 * a; return; }
        if (double.IsNaN(issued)) return;
        bool miss = a > issued;
        _scored++;
        if (!miss) _covered++;
        _q[cell] = Math.Max(0, _q[cell] + _rate * _scale[cell] * ((miss ? 1 : 0) - _alpha));
    }

    public void Write(BinaryWriter w)
    {
        Experts.StateIO.Write(w, _q); Experts.StateIO.Write(w, _scale); w.Write(_covered); w.Write(_scored);
    }

    public void Read(BinaryReader r)
    {
        int n = r.ReadInt32();
        if (n != _q.Length) throw new InvalidDataException($"checkpoint intervals: {n} cells, this model needs {_q.Length}");
        for (int i = 0; i < n; i++) _q[i] = r.ReadDouble(); // NaN = no residual yet
        Experts.StateIO.Read(r, _scale, "interval scale");
        _covered = r.ReadInt64(); _scored = r.ReadInt64();
        if (_covered < 0 || _scored < _covered) throw new InvalidDataException("checkpoint interval counters are inconsistent");
    }
}
