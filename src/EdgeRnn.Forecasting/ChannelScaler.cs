namespace EdgeRnn.Forecasting;

/// <summary>What the recurrent network is fed per input channel.</summary>
public enum InputTransform
{
    /// <summary>The z-scored value: sees levels, so a level never seen in training is out of distribution.</summary>
    Level,
    /// <summary>The first difference x[t] - x[t-1] (scaled): level-free, the default.</summary>
    Diff,
}

/// <summary>
/// The one place that scales: sensor units to the network's features, target values to the normalized scale the skip
/// path, the learner and the backtests work in, and normalized forecasts back to sensor units. A v2 model file carries
/// its numbers as the tensors scaler.mean, scaler.std and (for the diff transform) scaler.diff_std.
/// A network-only file (the shared reference format) gets <see cref="Identity"/>: its network applies its own
/// input_mean/input_std and output_mean/output_std, so the forecaster passes values through unchanged and does not clamp.
/// </summary>
public sealed class ChannelScaler
{
    /// <summary>[channels] z-score of each input channel (fitted on training rows only).</summary>
    public float[] Mean { get; }
    public float[] Std { get; }
    /// <summary>[channels] std of each channel's first difference (the Diff transform's scale); null for Level.</summary>
    public float[]? DiffStd { get; }
    public InputTransform Transform { get; }
    /// <summary>[targets] scale of the forecast values (the first target channels' mean and std; 0 and 1 for identity).</summary>
    public float[] TargetMean { get; }
    public float[] TargetStd { get; }
    /// <summary>Features are clamped to ±Clamp so one wild sample cannot drive the state far from anything trained on.</summary>
    public float Clamp { get; }
    public bool IsIdentity { get; }

    public ChannelScaler(float[] mean, float[] std, float[]? diffStd, InputTransform transform, int targets, float clamp = 8f)
        : this(mean, std, diffStd, transform, mean[..targets], std[..targets], clamp, identity: false) { }

    private ChannelScaler(float[] mean, float[] std, float[]? diffStd, InputTransform transform, float[] targetMean, float[] targetStd, float clamp, bool identity)
    {
        if (std.Length != mean.Length) throw new ArgumentException($"scaler: std has {std.Length} values, mean {mean.Length}");
        if (transform == InputTransform.Diff && (diffStd is null || diffStd.Length != mean.Length))
            throw new ArgumentException("scaler: the diff transform needs one diff std per channel");
        foreach (float s in std) if (!(s > 0) || !float.IsFinite(s)) throw new ArgumentException($"scaler: std {s} is not a finite positive number");
        if (diffStd is not null) foreach (float s in diffStd) if (!(s > 0) || !float.IsFinite(s)) throw new ArgumentException($"scaler: diff std {s} is not a finite positive number");
        Mean = mean; Std = std; DiffStd = transform == InputTransform.Diff ? diffStd : null; Transform = transform;
        TargetMean = targetMean; TargetStd = targetStd; Clamp = clamp; IsIdentity = identity;
    }

    /// <summary>Pass-through for a network-only file: its network scales inside; nothing is clamped.</summary>
    public static ChannelScaler Identity(int channels, int targets)
    {
        var ones = new float[channels]; Array.Fill(ones, 1f);
        var tOnes = new float[targets]; Array.Fill(tOnes, 1f);
        return new ChannelScaler(new float[channels], ones, null, InputTransform.Level, new float[targets], tOnes, float.PositiveInfinity, identity: true);
    }

    public int Channels => Mean.Length;

    /// <summary>The network's feature for channel i from its (gap-filled) value and the previous one; first = no previous value yet.</summary>
    public float Feature(int i, float value, float previous, bool first) => Feature(i, value, previous, first, 1f);

    /// <summary>
    /// The feature divided by a stream's drift scale (≥ 1, tracked by <see cref="HybridStepper"/>) before the clamp, so a
    /// stream whose variance grew still feeds the network features of the size it was trained on.
    /// </summary>
    public float Feature(int i, float value, float previous, bool first, float drift) =>
        Math.Clamp(RawFeature(i, value, previous, first) / drift, -Clamp, Clamp);

    /// <summary>The feature before drift scaling and clamping (trained standard deviations).</summary>
    public float RawFeature(int i, float value, float previous, bool first) => Transform == InputTransform.Diff
        ? (first ? 0f : value - previous) / DiffStd![i]
        : (value - Mean[i]) / Std[i];

    /// <summary>A target's value on the normalized scale (NaN stays NaN).</summary>
    public float Normalize(int target, float value) => (value - TargetMean[target]) / TargetStd[target];

    /// <summary>A target's whole series on the normalized scale (NaN stays NaN): what the skip path is fitted on.</summary>
    public float[] Normalize(int target, ReadOnlySpan<float> values)
    {
        var z = new float[values.Length];
        for (int t = 0; t < z.Length; t++) z[t] = Normalize(target, values[t]);
        return z;
    }

    /// <summary>A normalized forecast back in sensor units.</summary>
    public float Denormalize(int target, float normalized) => TargetMean[target] + TargetStd[target] * normalized;

    /// <summary>The network's normalized correction in sensor units (a difference: no mean).</summary>
    public float CorrectionToUnits(int target, float normalized) => normalized * TargetStd[target];

    /// <summary>A correction in sensor units back in normalized units (the inverse of <see cref="CorrectionToUnits(int, float)"/>).</summary>
    public float UnitsToCorrection(int target, float units) => units / TargetStd[target];

    /// <summary>The correction of a network fed drift-scaled features: scaled back by the same drift.</summary>
    public float CorrectionToUnits(int target, float normalized, float drift) => normalized * drift * TargetStd[target];
}
