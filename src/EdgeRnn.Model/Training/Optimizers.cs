using EdgeRnn.Numerics;

namespace EdgeRnn.Model.Training;

/// <summary>Updates parameters in place from a gradient arena of the same shape.</summary>
public interface IOptimizer
{
    /// <summary>
    /// One update. Returns false and changes nothing when the gradient holds a non-finite value (so NaN never reaches
    /// the weights; the caller counts the rejected step).
    /// </summary>
    bool Step(ForecasterParameters parameters, ForecasterParameters gradient);
}

/// <summary>
/// torch.optim.Adam as of PyTorch 1.13 (amsgrad off), the same update formula and defaults:
///   m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
///   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
/// Weight decay (L2, added to the gradient as PyTorch's Adam does) defaults to 0.
/// Hyper-parameters are doubles as in Python: PyTorch forms the bias corrections in double and rounds each scalar to
/// float only where it meets a float32 tensor, and so does this (down to addcdiv's (−step·m)/denom order).
/// </summary>
public sealed class Adam(double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0) : IOptimizer
{
    private float[]? _m, _v;
    public double LearningRate { get; set; } = lr;
    public long Steps { get; private set; }

    public bool Step(ForecasterParameters parameters, ForecasterParameters gradient)
    {
        float[] p = parameters.Arena, g = gradient.Arena;
        if (p.Length != g.Length) throw new ArgumentException("gradient arena differs in size from the parameters");
        if (!Optimization.AllFinite(g)) return false;
        if (_m is null || _m.Length != p.Length) { _m = new float[p.Length]; _v = new float[p.Length]; Steps = 0; }
        float[] m = _m, v = _v!;
        Steps++;
        double bc1 = 1 - Math.Pow(beta1, Steps), bc2 = 1 - Math.Pow(beta2, Steps);
        float negStep = (float)(-(LearningRate / bc1)), bc2Sqrt = (float)Math.Sqrt(bc2);
        float b1 = (float)beta1, b2 = (float)beta2, oneMinusB1 = (float)(1 - beta1), oneMinusB2 = (float)(1 - beta2);
        float e = (float)eps, wd = (float)weightDecay;
        for (int i = 0; i < p.Length; i++)
        {
            float gi = wd != 0f ? g[i] + wd * p[i] : g[i];
            m[i] = m[i] * b1 + gi * oneMinusB1;
            v[i] = v[i] * b2 + oneMinusB2 * gi * gi;
            float denom = MathF.Sqrt(v[i]) / bc2Sqrt + e;
            p[i] += negStep * m[i] / denom;
        }
        parameters.MarkChanged();
        return true;
    }
}

/// <summary>
/// torch.optim.SGD (PyTorch 1.13): with momentum μ, b ← g on the first step, then b ← μ b + (1 − dampening) g;
/// nesterov uses g + μ b; p ← p − lr · update. Weight decay adds wd · p to the gradient.
/// </summary>
public sealed class Sgd(double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false) : IOptimizer
{
    private float[]? _buf;
    public double LearningRate { get; set; } = lr;

    public bool Step(ForecasterParameters parameters, ForecasterParameters gradient)
    {
        float[] p = parameters.Arena, g = gradient.Arena;
        if (p.Length != g.Length) throw new ArgumentException("gradient arena differs in size from the parameters");
        if (!Optimization.AllFinite(g)) return false;
        bool first = false;
        if (momentum != 0 && (_buf is null || _buf.Length != p.Length)) { _buf = new float[p.Length]; first = true; }
        float mu = (float)momentum, damp = (float)(1 - dampening), wd = (float)weightDecay, negLr = (float)-LearningRate;
        for (int i = 0; i < p.Length; i++)
        {
            float d = wd != 0f ? g[i] + wd * p[i] : g[i];
            if (mu != 0f)
            {
                float b = first ? d : _buf![i] * mu + d * damp;
                _buf![i] = b;
                d = nesterov ? d + mu * b : b;
            }
            p[i] += negLr * d;
        }
        parameters.MarkChanged();
        return true;
    }
}

/// <summary>torch.nn.utils.clip_grad_norm_ (PyTorch 1.13, L2 norm).</summary>
public static class GradientClipping
{
    /// <summary>
    /// Scales the whole gradient by min(1, maxNorm / (‖g‖ + 1e-6)) and returns ‖g‖ before scaling. A non-finite norm leaves
    /// the gradient untouched (the optimizers refuse a non-finite gradient anyway).
    /// </summary>
    public static double ClipByNorm(ForecasterParameters gradient, double maxNorm)
    {
        double total = Math.Sqrt(FloatKernels.SumOfSquares(gradient.Arena));
        if (!double.IsFinite(total)) return total;
        // PyTorch forms the coefficient in float32 tensors; so do we, and always multiply (by 1 when not clipping).
        float coef = Math.Min((float)maxNorm / ((float)total + 1e-6f), 1f);
        if (coef != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(gradient.Arena, coef, gradient.Arena);
        return total;
    }
}

public static class Optimization
{
    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (float v in values) if (!float.IsFinite(v)) return false;
        return true;
    }

    /// <summary>PyTorch's default init for RNN and Linear alike here: every weight and bias uniform in ±1/√H.</summary>
    public static void InitializeUniform(ForecasterParameters parameters, int seed)
    {
        var rng = new Random(seed);
        float bound = 1f / MathF.Sqrt(parameters.Shape.HiddenSize);
        float[] a = parameters.Arena;
        for (int i = 0; i < a.Length; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
        parameters.MarkChanged();
    }
}
