using EdgeRnn.Model;
using EdgeRnn.Model.Training;

namespace EdgeRnn.Forecasting.Neural;

/// <summary>Normalized rows a learner reads: the network's features, the skip forecast and the truth, by absolute row index.</summary>
public interface ISeriesAccess
{
    /// <summary>[I] what the network saw at row t.</summary>
    ReadOnlySpan<float> Features(long t);
    /// <summary>[H*C] the skip path's forecast made at row t.</summary>
    ReadOnlySpan<float> Skip(long t);
    /// <summary>[C] the targets' true values at row t (NaN = missing).</summary>
    ReadOnlySpan<float> Truth(long t);
    /// <summary>[C] the drift scale of each target's network output at row t (<see cref="HybridStepper.OutputScale"/>; 1 = trained scale).</summary>
    ReadOnlySpan<float> Scale(long t);
}

/// <summary>Whole-series arrays (offline training).</summary>
public sealed class ArraySeries(int inputs, int outputs, int targets, float[] features, float[] skip, float[] truth, float[] scale) : ISeriesAccess
{
    public int Rows => truth.Length / targets;
    public ReadOnlySpan<float> Features(long t) => features.AsSpan((int)t * inputs, inputs);
    public ReadOnlySpan<float> Skip(long t) => skip.AsSpan((int)t * outputs, outputs);
    public ReadOnlySpan<float> Truth(long t) => truth.AsSpan((int)t * targets, targets);
    public ReadOnlySpan<float> Scale(long t) => scale.AsSpan((int)t * targets, targets);

    /// <summary>Runs the model's own stepper (with a silent network) over the table so training sees exactly what inference computes.</summary>
    public static ArraySeries Build(HybridModel model, IReadOnlyList<float[]> channelsRaw)
    {
        int n = channelsRaw[0].Length, inputs = model.Channels.Length, c = model.TargetCount, o = model.Horizon * c;
        var stepper = new HybridStepper(model, new SilentForecaster(model.Net.Shape));
        var f = new float[n * inputs];
        var s = new float[(long)n * o];
        var y = new float[n * c];
        var sc = new float[n * c];
        var sample = new float[inputs];
        var forecast = new float[o];
        for (int t = 0; t < n; t++)
        {
            for (int i = 0; i < inputs; i++) sample[i] = channelsRaw[i][t];
            stepper.Step(sample, forecast);
            stepper.Features.CopyTo(f.AsSpan(t * inputs, inputs));
            stepper.SkipForecast.CopyTo(s.AsSpan((int)((long)t * o), o));
            stepper.OutputScale.CopyTo(sc.AsSpan(t * c, c));
            for (int j = 0; j < c; j++) y[t * c + j] = model.Scaler.Normalize(j, sample[j]); // NaN truth stays NaN
        }
        return new ArraySeries(inputs, o, c, f, s, y, sc);
    }
}

/// <summary>A network that outputs zeros: lets the stepper compute features and skip forecasts alone.</summary>
internal sealed class SilentForecaster(ForecasterShape shape) : IForecaster
{
    public ForecasterShape Shape => shape;
    public int StateSize => shape.StateSize;
    public void Step(ReadOnlySpan<float> input, Span<float> output) => output.Clear();
    public void Reset() { }
    public void GetState(Span<float> destination) => destination.Clear();
    public void SetState(ReadOnlySpan<float> source) { }
    public IForecaster WithWeights(ForecasterParameters parameters) => this;
}

/// <summary>
/// Truncated-BPTT training of the network's residual (truth minus skip forecast, normalized) on batches of chunks, on the
/// engine's batched <see cref="SequenceNetwork"/>, Adam and gradient clipping.
/// One chunk: rows [start, start+T) from a zero state; the first <c>warmup</c> rows only build state; row t's loss covers
/// the targets t+1..t+H that lie before <c>limit</c> (rows the learner may know) and are finite.
/// Shared by offline training and the online fine-tuner: one path.
/// </summary>
public sealed class ResidualLearner
{
    public ForecasterParameters Parameters { get; }
    public ForecasterParameters Gradient { get; }
    public Adam Optimizer { get; private set; }
    public float LearningRate { get; }
    public float ClipNorm { get; set; } = 1f;
    public int ChunkLength { get; }
    public int Batch { get; }
    public int Warmup { get; }
    private readonly SequenceNetwork _net;
    private readonly float[] _x, _r, _y, _dy, _state;
    private readonly int _i, _o, _c, _h, _skipLookback;

    public ResidualLearner(ForecasterParameters parameters, int horizon, int skipLookback, int chunk, int batch, int warmup, float learningRate)
    {
        Parameters = parameters;
        Gradient = ForecasterParameters.CreateLike(parameters);
        LearningRate = learningRate;
        Optimizer = new Adam(learningRate);
        ChunkLength = chunk; Batch = batch; Warmup = warmup;
        _i = parameters.Shape.InputSize; _o = parameters.Shape.OutputSize; _h = horizon; _c = _o / horizon;
        _skipLookback = skipLookback;
        _net = new SequenceNetwork(parameters);
        _x = new float[batch * chunk * _i];
        _r = new float[batch * chunk * _o];
        _y = new float[batch * chunk * _o];
        _dy = new float[batch * chunk * _o];
        _state = new float[batch * parameters.Shape.StateSize];
    }

    /// <summary>Forgets the optimizer's moments (after a rollback the moments belong to weights that are gone).</summary>
    public void ResetOptimizer() => Optimizer = new Adam(LearningRate);

    /// <summary>
    /// Forward (+ backward and an Adam step when <paramref name="apply"/>) on chunks starting at <paramref name="starts"/>.
    /// Returns the batch loss (mean squared residual error, normalized) before the step, NaN when no target was valid,
    /// and whether the step was applied (false also when the gradient was non-finite: it never reaches the weights).
    /// </summary>
    public (double Loss, bool Applied) TrainBatch(ISeriesAccess src, ReadOnlySpan<long> starts, long limit, bool apply = true)
    {
        int T = ChunkLength, B = Batch, I = _i, O = _o, C = _c, H = _h;
        long valid = 0;
        for (int b = 0; b < B; b++)
        {
            long s0 = starts[b % starts.Length];
            for (int t = 0; t < T; t++)
            {
                long row = s0 + t;
                // [B, T, I]
                src.Features(row).CopyTo(_x.AsSpan((b * T + t) * I, I));
                // [B, T, O]
                Span<float> r = _r.AsSpan((b * T + t) * O, O);
                if (t < Warmup || row < _skipLookback - 1) { r.Fill(float.NaN); continue; }
                ReadOnlySpan<float> skip = src.Skip(row), outScale = src.Scale(row);
                for (int k = 0; k < H; k++)
                {
                    long target = row + 1 + k;
                    if (target >= limit) { r.Slice(k * C).Fill(float.NaN); break; }
                    ReadOnlySpan<float> truth = src.Truth(target);
                    for (int c = 0; c < C; c++)
                    {
                        float v = (truth[c] - skip[k * C + c]) / outScale[c]; // the network's output is served × scale
                        r[k * C + c] = v;
                        if (float.IsFinite(v)) valid++;
                    }
                }
            }
        }
        if (valid == 0) return (double.NaN, false);
        Array.Clear(_state);
        _net.Forward(_x, B, T, _state, _y);
        double loss = 0;
        float scale = 2f / valid;
        for (int j = 0; j < _y.Length; j++)
        {
            float r = _r[j];
            if (!float.IsFinite(r)) { _dy[j] = 0; continue; }
            float e = _y[j] - r;
            loss += (double)e * e;
            _dy[j] = scale * e;
        }
        loss /= valid;
        if (!apply) return (loss, false);
        Array.Clear(Gradient.Arena);
        _net.Backward(_dy, Gradient);
        if (!double.IsFinite(loss) || !double.IsFinite(GradientClipping.ClipByNorm(Gradient, ClipNorm))) return (loss, false);
        return (loss, Optimizer.Step(Parameters, Gradient));
    }

    /// <summary>
    /// Streams the network over rows [0, to] (state carried, batch 1) and returns the MSE of skip + network against the
    /// truth for forecasts made at rows [from, to] whose targets lie before end. Used for early stopping.
    /// </summary>
    public static double Evaluate(ForecasterParameters p, ISeriesAccess src, int horizon, long from, long to, long end)
    {
        const int Chunk = 256;
        var net = new SequenceNetwork(p);
        int I = p.Shape.InputSize, O = p.Shape.OutputSize, C = O / horizon;
        var x = new float[Chunk * I];
        var y = new float[Chunk * O];
        var state = new float[p.Shape.StateSize];
        double sum = 0; long n = 0;
        for (long s0 = 0; s0 <= to; s0 += Chunk)
        {
            int T = (int)Math.Min(Chunk, to + 1 - s0);
            for (int t = 0; t < T; t++) src.Features(s0 + t).CopyTo(x.AsSpan(t * I, I));
            net.Forward(x.AsSpan(0, T * I), 1, T, state, y.AsSpan(0, T * O));
            for (int t = 0; t < T; t++)
            {
                long row = s0 + t;
                if (row < from || row + horizon >= end) continue;
                ReadOnlySpan<float> skip = src.Skip(row), scale = src.Scale(row);
                for (int k = 0; k < horizon; k++)
                {
                    ReadOnlySpan<float> truth = src.Truth(row + 1 + k);
                    for (int c = 0; c < C; c++)
                    {
                        float e = skip[k * C + c] + scale[c] * y[t * O + k * C + c] - truth[c];
                        if (float.IsFinite(e)) { sum += (double)e * e; n++; }
                    }
                }
            }
        }
        return n == 0 ? double.NaN : sum / n;
    }
}
