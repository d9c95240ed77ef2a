namespace EdgeRnn.Model;

/// <summary>
/// A streaming recurrent forecaster: one sample of raw inputs in, one vector of raw outputs out, state carried.
/// The model file's normalization is applied inside (inputs normalized, outputs de-normalized).
/// Implementations allocate nothing in <see cref="Step"/> after construction and are not thread-safe.
/// </summary>
public interface IForecaster
{
    ForecasterShape Shape { get; }

    /// <summary>input: [InputSize] raw units; output: [OutputSize] raw units.</summary>
    void Step(ReadOnlySpan<float> input, Span<float> output);

    /// <summary>Zero every layer's h (and c).</summary>
    void Reset();

    /// <summary>Floats in the state: layout per layer l: h_l [H], then for LSTM c_l [H], layer after layer.</summary>
    int StateSize { get; }
    void GetState(Span<float> destination);
    void SetState(ReadOnlySpan<float> source);

    /// <summary>
    /// Serves new weights of the same shape (an online learner's update): the forecaster to step from now on, state not
    /// included. A forecaster that can swap weights atomically (int8 re-quantizes) updates itself and returns itself;
    /// one that reads its weights live (float) returns a new forecaster over a copy, which the caller swaps in between
    /// steps. Callers never need to know which kind they hold.
    /// </summary>
    IForecaster WithWeights(ForecasterParameters parameters);
}

public static class ForecasterExtensions
{
    /// <summary>Steps through every sample of <paramref name="inputs"/> from the current state and returns every output
    /// (offline use: self-test, comparisons; it allocates the result). inputs: [T, InputSize]; returns [T, OutputSize].</summary>
    public static float[] StepAll(this IForecaster f, ReadOnlySpan<float> inputs)
    {
        int inSize = f.Shape.InputSize, outSize = f.Shape.OutputSize, steps = inputs.Length / inSize;
        var y = new float[steps * outSize];
        for (int t = 0; t < steps; t++) f.Step(inputs.Slice(t * inSize, inSize), y.AsSpan(t * outSize, outSize));
        return y;
    }
}
