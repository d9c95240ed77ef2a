using EdgeRnn.Ingest;
using System.Numerics.Tensors;

namespace EdgeRnn.Forecasting.Baselines;

/// <summary>
/// A direct linear forecaster over the last L values of one channel, shared across channels (DLinear's Linear/NLinear
/// with individual=False): y[k] = b[k] + Σ_j W[k, j] · x[t-L+1+j]. With <see cref="Relative"/> (NLinear) the window's
/// last value is subtracted from the inputs and added back to the outputs, so the forecast follows any level.
/// Fitted in closed form (ridge least squares) rather than by SGD: the same model class, the optimum of its loss.
/// </summary>
public sealed class LinearSkip
{
    public int Lookback { get; }
    public int Horizon { get; }
    public bool Relative { get; }
    /// <summary>[H, L]</summary>
    public float[] Weight { get; }
    /// <summary>[H]</summary>
    public float[] Bias { get; }

    public LinearSkip(int lookback, int horizon, bool relative, float[] weight, float[] bias)
    {
        if (weight.Length != lookback * horizon || bias.Length != horizon) throw new ArgumentException("linear skip: weight must be [H, L] and bias [H]");
        Lookback = lookback; Horizon = horizon; Relative = relative; Weight = weight; Bias = bias;
    }

    /// <summary>window: [L] oldest first; output: [H].</summary>
    public void Predict(ReadOnlySpan<float> window, Span<float> output)
    {
        int l = Lookback;
        float last = Relative ? window[l - 1] : 0f;
        for (int k = 0; k < Horizon; k++)
        {
            float s = TensorPrimitives.Dot(Weight.AsSpan(k * l, l), window);
            // Σ W (x - last) = Σ W x - last Σ W; the row sums are cheap to recompute and keep Predict allocation-free.
            if (Relative) s -= last * TensorPrimitives.Sum(Weight.AsSpan(k * l, l));
            output[k] = s + Bias[k] + last;
        }
    }

    /// <summary>
    /// Fits on every window of every series whose inputs and targets lie in [0, end): inputs x[t-L+1..t], targets x[t+1..t+H].
    /// series: filled channels (no NaN) used as inputs; truth: the same channels with NaN where a target was missing (skipped).
    /// </summary>
    public static LinearSkip Fit(IReadOnlyList<float[]> series, IReadOnlyList<float[]> truth, int end, int lookback, int horizon, bool relative, double ridge = 1e-4)
    {
        int l = lookback, h = horizon, d = l + 1;
        var xtx = new double[d * d];
        var xty = new double[d * h];
        var row = new double[d];
        var y = new double[h];
        long n = 0;
        for (int c = 0; c < series.Count; c++)
        {
            float[] x = series[c], tr = truth[c];
            for (int t = l - 1; t + h < end; t++)
            {
                double last = relative ? x[t] : 0;
                bool ok = true;
                for (int k = 0; k < h; k++) { double v = tr[t + 1 + k]; if (MissingValues.IsMissing(v)) { ok = false; break; } y[k] = v - last; } // a missing target: window skipped, never filled
                if (!ok) continue;
                for (int j = 0; j < l; j++) row[j] = x[t - l + 1 + j] - last;
                row[l] = 1;
                for (int i = 0; i < d; i++)
                {
                    double ri = row[i];
                    // Upper triangle only; mirrored below.
                    TensorPrimitives.MultiplyAdd(row.AsSpan(i), ri, xtx.AsSpan(i * d + i, d - i), xtx.AsSpan(i * d + i, d - i));
                    TensorPrimitives.MultiplyAdd(y, ri, xty.AsSpan(i * h, h), xty.AsSpan(i * h, h));
                }
                n++;
            }
        }
        if (n < d) throw new InvalidDataException($"not enough training windows ({n}) for a linear model over {l} values: use a shorter lookback or more data");
        for (int i = 0; i < d; i++) for (int j = 0; j < i; j++) xtx[i * d + j] = xtx[j * d + i];
        double diag = 0;
        for (int i = 0; i < l; i++) diag += xtx[i * d + i];
        // NLinear's last input (x[t] - x[t]) is identically zero: a floor on the ridge keeps the system positive definite.
        double lambda = Math.Max(ridge, 1e-9) * diag / l + 1e-12;
        for (int i = 0; i < l; i++) xtx[i * d + i] += lambda; // the bias is not shrunk
        CholeskySolveInPlace(xtx, xty, d, h);
        var w = new float[h * l];
        var b = new float[h];
        for (int k = 0; k < h; k++)
        {
            for (int j = 0; j < l; j++) w[k * l + j] = (float)xty[j * h + k];
            b[k] = (float)xty[l * h + k];
        }
        return new LinearSkip(l, h, relative, w, b);
    }

    /// <summary>Solves A X = B for symmetric positive definite A [d, d]; B [d, m] is overwritten by X.</summary>
    internal static void CholeskySolveInPlace(double[] a, double[] b, int d, int m)
    {
        // A = L Lᵀ, L stored in the lower triangle of a.
        for (int j = 0; j < d; j++)
        {
            double s = a[j * d + j] - TensorPrimitives.Dot(a.AsSpan(j * d, j), a.AsSpan(j * d, j));
            if (!(s > 0)) throw new InvalidDataException("linear fit: the normal equations are singular (constant or degenerate series)");
            double ljj = Math.Sqrt(s);
            a[j * d + j] = ljj;
            for (int i = j + 1; i < d; i++)
                a[i * d + j] = (a[i * d + j] - TensorPrimitives.Dot(a.AsSpan(i * d, j), a.AsSpan(j * d, j))) / ljj;
        }
        var col = new double[d];
        for (int c = 0; c < m; c++)
        {
            for (int i = 0; i < d; i++) col[i] = b[i * m + c];
            for (int i = 0; i < d; i++) { double s = col[i]; for (int k = 0; k < i; k++) s -= a[i * d + k] * col[k]; col[i] = s / a[i * d + i]; }
            for (int i = d - 1; i >= 0; i--) { double s = col[i]; for (int k = i + 1; k < d; k++) s -= a[k * d + i] * col[k]; col[i] = s / a[i * d + i]; }
            for (int i = 0; i < d; i++) b[i * m + c] = col[i];
        }
    }
}
