using EdgeRnn.Ingest;
using System.Diagnostics;
using EdgeRnn.Forecasting.Baselines;
using EdgeRnn.Forecasting.Data;
using EdgeRnn.Forecasting.Neural;
using EdgeRnn.Model;
using EdgeRnn.Model.Training;

namespace EdgeRnn.Forecasting;

public enum SkipKind { None, Last, NLinear }

/// <summary>Training settings. The defaults are what a user who gives only data, target and horizon gets.</summary>
public sealed record TrainOptions
{
    public RnnArch Arch { get; init; } = RnnArch.Gru;
    public int Hidden { get; init; } = 32;
    public int Layers { get; init; } = 1;
    public int Epochs { get; init; } = 12;
    public int Seed { get; init; } = 1;
    public int Batch { get; init; } = 16;
    public int Chunk { get; init; } = 96;
    public int Warmup { get; init; } = 32;
    public float LearningRate { get; init; } = 3e-4f;
    public int Patience { get; init; } = 3;
    public int Lookback { get; init; } = 336;
    public SkipKind Skip { get; init; } = SkipKind.NLinear;
    public InputTransform Transform { get; init; } = InputTransform.Diff;
    /// <summary>Optimizer steps (batches) per epoch; 0 = one pass worth of training windows.</summary>
    public int StepsPerEpoch { get; init; } = 50;
}

/// <summary>Rows used for fitting and for early stopping: train [0, TrainEnd), validation forecasts start at rows in [ValFrom, ValTo].</summary>
public readonly record struct TrainSplit(int TrainEnd, int ValFrom, int ValTo, int ValEnd);

public sealed record TrainReport(int Epochs, int BestEpoch, double SkipOnlyValMse, double BestValMse, long Samples, double Seconds)
{
    /// <summary>α of the skip path last + α·(NLinear − last), chosen on validation (NaN without an NLinear skip).</summary>
    public double SkipShrink { get; init; } = double.NaN;
    public double SamplesPerSecond => Seconds > 0 ? Samples / Seconds : 0;
}

/// <summary>Offline training: z-score and skip path fitted on training rows, then the network's residual by TBPTT with early stopping.</summary>
public static class HybridTrainer
{
    /// <summary>
    /// channelsRaw: input channels (targets first), raw units, NaN = missing. Returns the model with the best validation
    /// weights; the network's head starts at zero, so epoch 0 is the skip path alone and training can only keep or improve it
    /// on validation.
    /// </summary>
    public static (HybridModel Model, TrainReport Report) Train(IReadOnlyList<float[]> channelsRaw, string[] channels, int targetCount,
        int horizon, TimeSpan? period, TrainSplit split, TrainOptions o, TextWriter? progress = null)
    {
        var sw = Stopwatch.StartNew();
        int nIn = channels.Length;
        var mean = new float[nIn]; var std = new float[nIn]; var dstd = new float[nIn];
        var filled = new float[nIn][];
        for (int i = 0; i < nIn; i++)
        {
            filled[i] = MissingValues.ForwardFill(channelsRaw[i]);
            (mean[i], std[i]) = SeriesPrep.FitZScore(channelsRaw[i].AsSpan(0, split.TrainEnd));
            var d = new float[split.TrainEnd - 1];
            for (int t = 1; t < split.TrainEnd; t++) d[t - 1] = filled[i][t] - filled[i][t - 1];
            dstd[i] = MathF.Max(SeriesPrep.FitZScore(d).Std, 1e-6f * std[i]);
        }

        // The one place that scales: the skip path is fitted on the model's own scaler (the model is built on it below).
        var scaler = new ChannelScaler(mean, std, dstd, o.Transform, targetCount);
        LinearSkip? skip = null;
        double skipShrink = double.NaN;
        int lookback = Math.Min(o.Lookback, split.TrainEnd / 4);
        if (o.Skip != SkipKind.None)
        {
            var zf = new List<float[]>(); var zt = new List<float[]>();
            for (int c = 0; c < targetCount; c++)
            {
                zf.Add(scaler.Normalize(c, filled[c]));
                zt.Add(scaler.Normalize(c, channelsRaw[c]));
            }
            skip = o.Skip == SkipKind.NLinear
                ? LinearSkip.Fit(zf, zt, split.TrainEnd, lookback, horizon, relative: true)
                : new LinearSkip(1, horizon, true, new float[horizon], new float[horizon]);
            if (o.Skip == SkipKind.NLinear) skipShrink = ShrinkTowardLast(skip, zf, zt, split);
        }
        int skipL = skip?.Lookback ?? 1;

        var shape = new ForecasterShape(o.Arch, nIn, o.Hidden, o.Layers, horizon * targetCount);
        var p = new ForecasterParameters(shape);
        InitPyTorchStyle(p, o.Seed);
        // A fresh network's own normalization is identity (null): it learns on the scaler's features and residuals.
        var model = new HybridModel(p, skip, scaler, channels, channels[..targetCount], horizon, period);
        var series = ArraySeries.Build(model, channelsRaw);

        var learner = new ResidualLearner(p, horizon, skipL, o.Chunk, o.Batch, o.Warmup, o.LearningRate);
        var rng = new Random(o.Seed);
        int first = Math.Max(0, skipL - 1 - o.Warmup);
        int lastStart = split.TrainEnd - horizon - o.Chunk; // every chunk row's targets inside training rows
        if (lastStart < first) lastStart = Math.Max(first, split.TrainEnd - o.Chunk - 1);
        int windows = Math.Max(1, split.TrainEnd - skipL - horizon);
        int steps = o.StepsPerEpoch > 0 ? o.StepsPerEpoch : Math.Max(1, windows / (o.Batch * (o.Chunk - o.Warmup)));
        double Val() => ResidualLearner.Evaluate(p, series, horizon, split.ValFrom, split.ValTo, split.ValEnd);

        double skipOnly = Val(), best = skipOnly;
        var bestArena = (float[])p.Arena.Clone();
        int bestEpoch = 0, bad = 0, epoch = 0;
        long samples = 0;
        var starts = new long[o.Batch];
        progress?.WriteLine($"  epoch 0 (skip path alone): val mse {skipOnly:F5}");
        for (epoch = 1; epoch <= o.Epochs; epoch++)
        {
            double run = 0; int counted = 0;
            for (int s = 0; s < steps; s++)
            {
                for (int b = 0; b < o.Batch; b++) starts[b] = rng.Next(first, lastStart + 1);
                var (loss, _) = learner.TrainBatch(series, starts, split.TrainEnd);
                if (double.IsFinite(loss)) { run += loss; counted++; }
                samples += o.Batch * o.Chunk;
                if (progress is not null && (s % 8 == 7 || s == steps - 1))
                    progress.Write($"\r  epoch {epoch}/{o.Epochs} [{new string('#', (s + 1) * 20 / steps),-20}] train mse {run / Math.Max(1, counted):F5}");
            }
            double val = Val();
            progress?.WriteLine($"  val mse {val:F5}{(val < best ? " *" : "")}");
            if (val < best) { best = val; bestEpoch = epoch; bad = 0; p.Arena.CopyTo(bestArena, 0); }
            else if (++bad >= o.Patience) { epoch++; break; }
        }
        bestArena.CopyTo(p.Arena, 0);
        p.MarkChanged();
        return (model, new TrainReport(epoch - 1, bestEpoch, skipOnly, best, samples, sw.Elapsed.TotalSeconds) { SkipShrink = skipShrink });
    }

    /// <summary>
    /// Shrinks the NLinear skip toward repeat-last-value: forecast = last + α·(W(x − last) + b), with the α in [0, 1] that
    /// minimizes the validation MSE (closed form: the error is linear in α). On short training parts NLinear's 336 weights
    /// overfit and lose to the naive forecast; α = 0 then recovers it, α = 1 keeps NLinear. Scales W and b in place.
    /// </summary>
    public static double ShrinkTowardLast(LinearSkip skip, IReadOnlyList<float[]> filled, IReadOnlyList<float[]> truth, TrainSplit split)
    {
        int l = skip.Lookback, h = skip.Horizon;
        var pred = new float[h];
        double ed = 0, dd = 0;
        for (int c = 0; c < filled.Count; c++)
            for (int t = split.ValFrom; t <= split.ValTo; t++)
            {
                if (t < l - 1 || t + h >= split.ValEnd) continue;
                skip.Predict(filled[c].AsSpan(t - l + 1, l), pred);
                float last = filled[c][t];
                for (int k = 0; k < h; k++)
                {
                    float y = truth[c][t + 1 + k];
                    if (MissingValues.IsMissing(y)) continue; // a missing target is skipped, never filled
                    double d = pred[k] - last, e0 = last - y;
                    ed += e0 * d; dd += d * d;
                }
            }
        double alpha = dd > 0 ? Math.Clamp(-ed / dd, 0, 1) : 1;
        for (int i = 0; i < skip.Weight.Length; i++) skip.Weight[i] *= (float)alpha;
        for (int i = 0; i < skip.Bias.Length; i++) skip.Bias[i] *= (float)alpha;
        return alpha;
    }

    /// <summary>PyTorch's default RNN init U(-1/√H, 1/√H) for the cell; the head starts at zero (the model starts as its skip path).</summary>
    public static void InitPyTorchStyle(ForecasterParameters p, int seed)
    {
        Optimization.InitializeUniform(p, seed);
        p.HeadWeight.Clear();
        p.HeadBias.Clear();
    }
}
