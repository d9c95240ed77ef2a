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
/// </summary>
public sealed class Adam(float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0f) : IOptimizer
{
    private float[]? _m, _v;
    public float LearningRate { get; set; } = lr;
    public long Steps { get; private set; }

    public bool Step(ForecasterParameters parameters, ForecasterParameters gradient)
    {
        float[] p = parameters.Arena, g = gradient.Arena;
        if (p.Length != g.Length) throw new ArgumentException("gradient arena differs in size from the parameters");
        if (!Optimization.AllFinite(g)) return false;
        if (_m is null || _m.Length != p.Length) { _m = new float[p.Length]; _v = new float[p.Length]; Steps = 0; }
        float[] m = _m, v = _v!;
        Steps++;
        // PyTorch computes these scalars in double and hands them to float kernels.
        double bc1 = 1 - Math.Pow(beta1, Steps), bc2 = 1 - Math.Pow(beta2, Steps);
        float stepSize = (float)(LearningRate / bc1), bc2Sqrt = (float)Math.Sqrt(bc2);
        float oneMinusB1 = (float)(1 - (double)beta1), oneMinusB2 = (float)(1 - (double)beta2);
        for (int i = 0; i < p.Length; i++)
        {
            float gi = weightDecay != 0f ? g[i] + weightDecay * p[i] : g[i];
            m[i] = m[i] * beta1 + gi * oneMinusB1;
            v[i] = v[i] * beta2 + oneMinusB2 * gi * gi;
            float denom = MathF.Sqrt(v[i]) / bc2Sqrt + eps;
            p[i] += -stepSize * (m[i] / denom);
        }
        return true;
    }
}

/// <summary>
/// torch.optim.SGD (PyTorch 1.13): with momentum μ, b ← g on the first step, then b ← μ b + (1 − dampening) g;
/// nesterov uses g + μ b; p ← p − lr · update. Weight decay adds wd · p to the gradient.
/// </summary>
public sealed class Sgd(float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false) : IOptimizer
{
    private float[]? _buf;
    public float LearningRate { get; set; } = lr;

    public bool Step(ForecasterParameters parameters, ForecasterParameters gradient)
    {
        float[] p = parameters.Arena, g = gradient.Arena;
        if (p.Length != g.Length) throw new ArgumentException("gradient arena differs in size from the parameters");
        if (!Optimization.AllFinite(g)) return false;
        bool first = false;
        if (momentum != 0f && (_buf is null || _buf.Length != p.Length)) { _buf = new float[p.Length]; first = true; }
        float damp = (float)(1 - (double)dampening);
        for (int i = 0; i < p.Length; i++)
        {
            float d = weightDecay != 0f ? g[i] + weightDecay * p[i] : g[i];
            if (momentum != 0f)
            {
                float b = first ? d : _buf![i] * momentum + d * damp;
                _buf![i] = b;
                d = nesterov ? d + momentum * b : b;
            }
            p[i] += -LearningRate * d;
        }
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
    }
}
