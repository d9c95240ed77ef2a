using System.Diagnostics;
using System.Globalization;
using EdgeRnn.Model.Training;

namespace EdgeRnn.Model.Text;

/// <summary>Settings of next-character training. Defaults: the articles' network, 2 × LSTM 128, Adam.</summary>
public sealed record CharTrainOptions
{
    public RnnArch Arch { get; init; } = RnnArch.Lstm;
    public int Hidden { get; init; } = 128;
    public int Layers { get; init; } = 2;
    /// <summary>Parallel streams per update (the batch).</summary>
    public int Batch { get; init; } = 32;
    /// <summary>Truncated-BPTT window: characters per stream per update.</summary>
    public int SeqLength { get; init; } = 64;
    public int Updates { get; init; } = 2000;
    public double LearningRate { get; init; } = 2e-3;
    public double ClipNorm { get; init; } = 5.0;
    public int Seed { get; init; } = 1;
    /// <summary>Validation loss every this many updates (and after the last).</summary>
    public int EvalEvery { get; init; } = 250;
    /// <summary>A progress line every this many updates.</summary>
    public int LogEvery { get; init; } = 50;

    public void Validate()
    {
        if (Hidden < 1 || Layers < 1 || Batch < 1 || SeqLength < 1 || Updates < 1 || EvalEvery < 1 || LogEvery < 1)
            throw new ArgumentOutOfRangeException(nameof(Hidden), "hidden, layers, batch, seq-length, updates, eval-every and log-every must be >= 1");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), "learning rate must be > 0");
        if (!(ClipNorm > 0)) throw new ArgumentOutOfRangeException(nameof(ClipNorm), "clip norm must be > 0");
    }
}

public sealed record CharTrainReport(int Updates, double Seconds, double CharsPerSecond, double TrainLoss, double ValLoss, long ValChars, int RejectedSteps);

/// <summary>
/// Next-character training: one-hot inputs (input i = vocab token i), softmax over the vocab, cross-entropy in nats.
/// The last 10% of the text is the validation split. The training text is cut into Batch contiguous streams (stream b
/// starts at b·⌊(n−1)/B⌋); each update takes the next SeqLength characters of every stream, carries each stream's state
/// from the previous window (truncated BPTT, the state detached), and after the last full window of the streams starts
/// them over from zero state. Validation runs the same way over its own Batch streams, forward only, from zero state.
/// The PyTorch twin of this loop is tests/python/char_train.py.
/// </summary>
public static class CharTrainer
{
    public const double ValidationFraction = 0.1;

    /// <summary>Training and validation token streams: the last 10% (rounded down) of the characters is validation.</summary>
    public static (int[] Train, int[] Val) Split(int[] ids)
    {
        int val = (int)(ids.Length * ValidationFraction);
        return (ids[..(ids.Length - val)], ids[(ids.Length - val)..]);
    }

    public static ForecasterParameters NewModel(CharVocab vocab, CharTrainOptions o)
    {
        var p = new ForecasterParameters(new ForecasterShape(o.Arch, vocab.Count, o.Hidden, o.Layers, vocab.Count));
        Optimization.InitializeUniform(p, o.Seed);
        p.Metadata[OutputHead.ActivationKey] = "softmax";
        p.Metadata[OutputHead.VocabKey] = OutputHead.FormatVocab(vocab.Tokens);
        p.Metadata["task"] = "next-char";
        p.Metadata["inputs"] = "one-hot";
        return p;
    }

    public static CharTrainReport Train(ForecasterParameters p, int[] train, int[] val, CharTrainOptions o, TextWriter progress)
    {
        o.Validate();
        int b = o.Batch, t = o.SeqLength, v = p.Shape.OutputSize;
        if (p.Shape.InputSize != v) throw new ArgumentException("a character model has as many one-hot inputs as outputs");
        var streams = new Streams(train, b, t);
        if (streams.Windows < 1)
            throw new ArgumentException($"the training text ({train.Length} characters) is too short for {b} streams of {t}+1 characters");
        var net = new SequenceNetwork(p);
        var grad = ForecasterParameters.CreateLike(p);
        var adam = new Adam(o.LearningRate);
        var x = new float[b * t * v];
        var y = new float[b * t * v];
        var dy = new float[b * t * v];
        var targets = new int[b * t];
        var state = new float[b * p.Shape.StateSize];
        double lossSum = 0, lastLoss = double.NaN, valLoss = double.NaN;
        long valChars = 0;
        int lossCount = 0, rejected = 0;
        var trainClock = new Stopwatch();
        var total = Stopwatch.StartNew();
        for (int u = 0; u < o.Updates; u++)
        {
            trainClock.Start();
            int w = u % streams.Windows;
            if (w == 0) Array.Clear(state);
            streams.Fill(w, x, targets, v);
            net.Forward(x, b, t, state, y);
            double loss = Losses.SoftmaxCrossEntropy(y, targets, v, dy);
            Array.Clear(grad.Arena);
            net.Backward(dy, grad);
            GradientClipping.ClipByNorm(grad, o.ClipNorm);
            if (!adam.Step(p, grad)) rejected++;
            trainClock.Stop();
            lossSum += loss; lossCount++;
            bool last = u == o.Updates - 1;
            if ((u + 1) % o.EvalEvery == 0 || last) (valLoss, valChars) = Evaluate(net, val, b, t);
            if ((u + 1) % o.LogEvery == 0 || last)
            {
                lastLoss = lossSum / lossCount;
                double cps = (double)(u + 1) * b * t / trainClock.Elapsed.TotalSeconds;
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"update {u + 1}/{o.Updates}  epoch {(double)(u + 1) / streams.Windows:F2}  train {lastLoss:F4} nats/char  val {(double.IsNaN(valLoss) ? "-" : valLoss.ToString("F4", CultureInfo.InvariantCulture))} nats/char  {cps:F0} chars/s  {total.Elapsed.TotalSeconds:F0} s"));
                lossSum = 0; lossCount = 0;
            }
        }
        double seconds = trainClock.Elapsed.TotalSeconds;
        return new CharTrainReport(o.Updates, seconds, (double)o.Updates * b * t / seconds, lastLoss, valLoss, valChars, rejected);
    }

    /// <summary>Mean cross-entropy (nats per character) over every full window of batch streams of ids, zero initial state.</summary>
    public static (double Loss, long Chars) Evaluate(SequenceNetwork net, int[] ids, int batch, int steps)
    {
        int v = net.Shape.OutputSize;
        var streams = new Streams(ids, batch, steps);
        if (streams.Windows < 1) throw new ArgumentException($"the validation text ({ids.Length} characters) is too short for {batch} streams of {steps}+1 characters");
        var x = new float[batch * steps * v];
        var y = new float[batch * steps * v];
        var g = new float[batch * steps * v];
        var targets = new int[batch * steps];
        var state = new float[batch * net.Shape.StateSize];
        double sum = 0;
        for (int w = 0; w < streams.Windows; w++)
        {
            streams.Fill(w, x, targets, v);
            net.Forward(x, batch, steps, state, y);
            sum += Losses.SoftmaxCrossEntropy(y, targets, v, g);
        }
        return (sum / streams.Windows, (long)streams.Windows * batch * steps);
    }

    /// <summary>Mean cross-entropy of a streaming forecaster (float32 or int8) stepped one character at a time over
    /// ids from its current state: −log p(ids[i+1] | ids[..i]). The forecaster must output probabilities (softmax).</summary>
    public static double StreamingLoss(IForecaster f, ReadOnlySpan<int> ids)
    {
        int v = f.Shape.OutputSize;
        var x = new float[v];
        var p = new float[v];
        double sum = 0;
        for (int i = 0; i + 1 < ids.Length; i++)
        {
            x[ids[i]] = 1f;
            f.Step(x, p);
            x[ids[i]] = 0f;
            sum -= Math.Log(Math.Max(p[ids[i + 1]], 1e-30f));
        }
        return sum / Math.Max(1, ids.Length - 1);
    }

    /// <summary>Batch streams over a token sequence: window w of stream s holds inputs ids[s·L + w·T + j] and targets one later.</summary>
    private sealed class Streams(int[] ids, int batch, int steps)
    {
        private readonly int _length = (ids.Length - 1) / batch;
        public int Windows => _length / steps;

        // x: [B, T, V] one-hot; targets: [B, T]
        public void Fill(int w, float[] x, int[] targets, int v)
        {
            Array.Clear(x);
            for (int s = 0; s < batch; s++)
            {
                int start = s * _length + w * steps;
                for (int j = 0; j < steps; j++)
                {
                    int row = s * steps + j;
                    x[row * v + ids[start + j]] = 1f;
                    targets[row] = ids[start + j + 1];
                }
            }
        }
    }
}
