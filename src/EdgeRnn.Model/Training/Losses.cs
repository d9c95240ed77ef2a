namespace EdgeRnn.Model.Training;

/// <summary>
/// Regression losses with PyTorch's 'mean' reduction: value and gradient in one pass.
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
