namespace EdgeRnn.Ingest;

/// <summary>
/// The one missing-value policy. A value is missing when it is NaN or ±Inf. A missing input is replaced by the last valid
/// value of its channel, held for at most <see cref="MaxHold"/> (in the caller's clock: milliseconds in the conditioner,
/// unbounded in the stepper and the training prep); past that it stays NaN (marked missing). A missing target is never
/// filled: a window whose truth holds one is neither scored nor learned from (<see cref="AnyMissing"/>).
/// Callers: <see cref="SampleConditioner"/> (its hold; interpolation onto the grid is resampling, not this policy),
/// HybridStepper (carry forward) and the training and backtest prep (<see cref="ForwardFill"/>).
/// </summary>
public readonly record struct MissingValues(long MaxHold)
{
    /// <summary>Hold the last valid value however long the gap (the stepper and training inputs).</summary>
    public static MissingValues HoldForever => new(long.MaxValue);
    /// <summary>Never hold: a missing value stays NaN.</summary>
    public static MissingValues MarkMissing => new(-1);

    public static bool IsMissing(float v) => !float.IsFinite(v);
    public static bool IsMissing(double v) => !double.IsFinite(v);

    /// <summary>True when any value of a target window is missing (the window is skipped, never filled).</summary>
    public static bool AnyMissing(ReadOnlySpan<float> truth)
    {
        foreach (float v in truth) if (IsMissing(v)) return true;
        return false;
    }

    /// <summary>Whether a valid value seen at <paramref name="heldAt"/> may still stand in for a missing one at <paramref name="now"/>.</summary>
    public bool MayHold(long heldAt, long now) => heldAt <= now && now - heldAt <= MaxHold;

    /// <summary>The value itself when present; else the held value when within the hold limit; else NaN.</summary>
    public float Fill(float value, float held, long heldAt, long now) =>
        !IsMissing(value) ? value : MayHold(heldAt, now) ? held : float.NaN;

    /// <summary>Unbounded hold with no clock: the value when present, else the last valid one (the stepper's per-row path).</summary>
    public static float Carry(float value, float last) => IsMissing(value) ? last : value;

    /// <summary>
    /// Training and backtest inputs: every missing value replaced by the last valid value of the channel (leading ones by
    /// the first valid value). Throws when the channel has no valid value at all.
    /// </summary>
    public static float[] ForwardFill(ReadOnlySpan<float> x)
    {
        var y = new float[x.Length];
        float last = float.NaN;
        for (int i = 0; i < x.Length; i++) if (!IsMissing(x[i])) { last = x[i]; break; }
        if (float.IsNaN(last)) throw new InvalidDataException("a channel has no finite value");
        for (int i = 0; i < x.Length; i++) y[i] = last = Carry(x[i], last);
        return y;
    }
}
