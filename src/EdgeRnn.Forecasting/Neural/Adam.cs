using System.Numerics.Tensors;

namespace EdgeRnn.Forecasting.Neural;

/// <summary>Adam (Kingma and Ba) over one flat parameter arena, with global-norm gradient clipping and a finite check.</summary>
public sealed class Adam
{
    private readonly float[] _m, _v;
    private long _t;
    public float LearningRate { get; set; }
    public float Beta1 { get; } = 0.9f;
    public float Beta2 { get; } = 0.999f;
    public float Epsilon { get; } = 1e-8f;
    public float ClipNorm { get; set; } = 1f;

    public Adam(int size, float learningRate) { _m = new float[size]; _v = new float[size]; LearningRate = learningRate; }

    /// <summary>
    /// One update. Returns false (and leaves the weights untouched) when the gradient holds a non-finite value:
    /// non-finite values never reach the weights.
    /// </summary>
    public bool Step(Span<float> weights, Span<float> grad)
    {
        float norm = TensorPrimitives.Norm(grad);
        if (!float.IsFinite(norm)) return false;
        if (norm > ClipNorm) TensorPrimitives.Multiply(grad, ClipNorm / norm, grad);
        _t++;
        float b1 = Beta1, b2 = Beta2;
        float c1 = 1 - MathF.Pow(b1, _t), c2 = 1 - MathF.Pow(b2, _t);
        float lr = LearningRate * MathF.Sqrt(c2) / c1;
        for (int i = 0; i < weights.Length; i++)
        {
            float g = grad[i];
            float m = _m[i] = b1 * _m[i] + (1 - b1) * g;
            float v = _v[i] = b2 * _v[i] + (1 - b2) * g * g;
            weights[i] -= lr * m / (MathF.Sqrt(v) + Epsilon);
        }
        return true;
    }

    /// <summary>Moments and step count, for checkpoints: [t, m..., v...].</summary>
    public void CopyState(out long t, Span<float> m, Span<float> v) { t = _t; _m.CopyTo(m); _v.CopyTo(v); }
    public void RestoreState(long t, ReadOnlySpan<float> m, ReadOnlySpan<float> v) { _t = t; m.CopyTo(_m); v.CopyTo(_v); }
    public int Size => _m.Length;
}
