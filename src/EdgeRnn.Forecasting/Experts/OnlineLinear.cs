namespace EdgeRnn.Forecasting.Experts;

/// <summary>
/// NLinear-style linear forecaster updated online by recursive least squares with forgetting, one per target:
///   ŷ[t+1+k] − x[t] = W[k] · ( x[t−L+1..t] − x[t], 1 )          k = 0..H−1
/// All H outputs share the regressor, so they share one inverse covariance P (d × d, d = L + 1) and one gain per update;
/// only the weight rows differ. A window is learned from only once all H of its future values have been observed, so the
/// model never sees a value before it exists. Starts at W = 0 (repeat the last value), P = I / ridge. Allocation-free.
/// CPU per update: 2·d² + H·d multiply-adds. Memory: d² + H·d floats.
/// </summary>
public sealed class OnlineLinear
{
    private readonly int _d, _h;
    private readonly double[] _p;   // [d, d] inverse covariance
    private readonly double[] _w;   // [H, d]
    private readonly double[] _px;  // [d] scratch: P·x
    private readonly double _lambda, _pInit;

    /// <param name="lookback">values in the window L</param>
    /// <param name="horizon">outputs H</param>
    /// <param name="memory">forgetting time constant in updates (λ = 1 − 1/memory)</param>
    /// <param name="ridge">initial precision: P₀ = I / ridge (larger = stays near repeat-last-value for longer)</param>
    public OnlineLinear(int lookback, int horizon, double memory = 2000, double ridge = 1.0)
    {
        if (lookback < 1 || horizon < 1) throw new ArgumentOutOfRangeException(nameof(lookback), "lookback and horizon must be positive");
        _d = lookback + 1; _h = horizon;
        _p = new double[_d * _d]; _w = new double[_h * _d]; _px = new double[_d];
        _lambda = 1.0 - 1.0 / Math.Max(memory, 2);
        _pInit = 1.0 / ridge;
        Reset();
    }

    public int Lookback => _d - 1;

    public void Reset()
    {
        Array.Clear(_p); Array.Clear(_w);
        for (int i = 0; i < _d; i++) _p[i * _d + i] = _pInit;
    }

    /// <summary>window: [L] oldest first (normalized); output: [H] absolute forecast (normalized).</summary>
    public void Predict(ReadOnlySpan<float> window, Span<float> output)
    {
        float last = window[^1];
        for (int k = 0; k < _h; k++)
        {
            int o = k * _d;
            double s = _w[o + _d - 1];
            for (int j = 0; j < _d - 1; j++) s += _w[o + j] * (window[j] - last);
            output[k] = (float)(last + s);
        }
    }

    /// <summary>
    /// One RLS step on a window and the H values that followed it. future[k] NaN = not observed: that output is not updated.
    /// </summary>
    public void Update(ReadOnlySpan<float> window, ReadOnlySpan<float> future)
    {
        float last = window[^1];
        int d = _d;
        // px = P·x (x = window − last, then 1), denom = λ + xᵀ·P·x
        double denom = _lambda;
        for (int i = 0; i < d; i++)
        {
            int o = i * d;
            double s = _p[o + d - 1];
            for (int j = 0; j < d - 1; j++) s += _p[o + j] * (window[j] - last);
            _px[i] = s;
            denom += s * (i == d - 1 ? 1.0 : window[i] - last);
        }
        if (!(denom > 0) || !double.IsFinite(denom)) return;
        double inv = 1.0 / denom;
        for (int k = 0; k < _h; k++)
        {
            float y = future[k];
            if (!float.IsFinite(y)) continue;
            int o = k * d;
            double pred = _w[o + d - 1];
            for (int j = 0; j < d - 1; j++) pred += _w[o + j] * (window[j] - last);
            double e = (y - last - pred) * inv;
            for (int j = 0; j < d; j++) _w[o + j] += _px[j] * e;
        }
        // P ← (P − px·pxᵀ / denom) / λ; without forgetting when P has grown past its start (no excitation: no wind-up).
        double trace = 0;
        for (int i = 0; i < d; i++) trace += _p[i * d + i];
        double forget = trace > d * _pInit ? 1.0 : 1.0 / _lambda;
        for (int i = 0; i < d; i++)
        {
            double a = _px[i] * inv;
            int o = i * d;
            for (int j = 0; j < d; j++) _p[o + j] = (_p[o + j] - a * _px[j]) * forget;
        }
    }

    internal double[] StateP => _p;
    internal double[] StateW => _w;
}
