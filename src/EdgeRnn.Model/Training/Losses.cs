using System.Numerics.Tensors;

namespace EdgeRnn.Model.Training;

/// <summary>
/// Losses with PyTorch's 'mean' reduction: value and gradient in one pass.
/// A NaN target marks a missing value: it adds nothing to the loss or the gradient and is not counted in the mean
/// (with every target finite this is exactly torch.nn.functional.mse_loss / huber_loss).
/// </summary>
public static class Losses
{
    /// <summary>mean((y − t)²); grad = 2 (y − t) / N. Returns the loss (NaN-free; 0 when no target is finite).</summary>
    // predictions, targets, gradient: [N] (any shape flattened)
    public static double Mse(ReadOnlySpan<float> predictions, ReadOnlySpan<float> targets, Span<float> gradient)
    {
        Check(predictions, targets, gradient);
        int n = CountFinite(targets);
        if (n == 0) { gradient.Clear(); return 0; }
        float scale = 2f / n;
        double sum = 0;
        for (int i = 0; i < predictions.Length; i++)
        {
            if (float.IsNaN(targets[i])) { gradient[i] = 0; continue; }
            float d = predictions[i] - targets[i];
            sum += (double)d * d;
            gradient[i] = scale * d;
        }
        return sum / n;
    }

    /// <summary>
    /// Huber (torch.nn.functional.huber_loss): 0.5 d² where |d| &lt; δ, else δ (|d| − 0.5 δ); mean. grad = clamp(d, −δ, δ) / N.
    /// </summary>
    // predictions, targets, gradient: [N]
    public static double Huber(ReadOnlySpan<float> predictions, ReadOnlySpan<float> targets, Span<float> gradient, float delta = 1f)
    {
        Check(predictions, targets, gradient);
        if (!(delta > 0)) throw new ArgumentOutOfRangeException(nameof(delta), "delta must be > 0");
        int n = CountFinite(targets);
        if (n == 0) { gradient.Clear(); return 0; }
        float inv = 1f / n;
        double sum = 0;
        for (int i = 0; i < predictions.Length; i++)
        {
            if (float.IsNaN(targets[i])) { gradient[i] = 0; continue; }
            float d = predictions[i] - targets[i], a = MathF.Abs(d);
            sum += a < delta ? 0.5 * d * d : delta * (a - 0.5 * delta);
            gradient[i] = Math.Clamp(d, -delta, delta) * inv;
        }
        return sum / n;
    }

    /// <summary>
    /// Softmax cross-entropy (torch.nn.functional.cross_entropy on logits, 'mean' reduction) over N rows of C classes:
    /// loss = mean over rows of (log Σ_c exp z_c − z_target), log-sum-exp stable (the row maximum is subtracted first);
    /// grad = (softmax(z) − onehot(target)) / N. A target of −1 marks a row to ignore (PyTorch's ignore_index): it adds
    /// nothing and is not counted. Returns the loss in nats (0 when no row counts).
    /// </summary>
    // logits, gradient: [N, C]; targets: [N] class indices in 0..C-1, or -1
    public static double SoftmaxCrossEntropy(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, int classes, Span<float> gradient)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), "classes must be >= 1");
        int rows = targets.Length;
        if (logits.Length != rows * classes || gradient.Length != logits.Length)
            throw new ArgumentException($"logits [{logits.Length}] and gradient [{gradient.Length}] are not [{rows}, {classes}]");
        int n = 0;
        foreach (int t in targets)
        {
            if (t < -1 || t >= classes) throw new ArgumentOutOfRangeException(nameof(targets), t, $"target must be -1 or 0..{classes - 1}");
            if (t >= 0) n++;
        }
        if (n == 0) { gradient.Clear(); return 0; }
        float inv = 1f / n;
        double sum = 0;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> z = logits.Slice(r * classes, classes);
            Span<float> g = gradient.Slice(r * classes, classes);
            int t = targets[r];
            if (t < 0) { g.Clear(); continue; }
            // log Σ exp z = max + log Σ exp(z − max)
            float max = TensorPrimitives.Max(z);
            TensorPrimitives.Subtract(z, max, g);
            TensorPrimitives.Exp(g, g);
            float s = TensorPrimitives.Sum(g);
            sum += Math.Log(s) + max - z[t];
            // ∂/∂z = softmax(z) − onehot(t), over N rows
            TensorPrimitives.Multiply(g, inv / s, g);
            g[t] -= inv;
        }
        return sum / n;
    }

    private static int CountFinite(ReadOnlySpan<float> targets)
    {
        int n = 0;
        foreach (float t in targets) if (!float.IsNaN(t)) n++;
        return n;
    }

    private static void Check(ReadOnlySpan<float> p, ReadOnlySpan<float> t, Span<float> g)
    {
        if (p.Length != t.Length || g.Length != p.Length)
            throw new ArgumentException($"predictions [{p.Length}], targets [{t.Length}] and gradient [{g.Length}] differ in length");
    }
}
