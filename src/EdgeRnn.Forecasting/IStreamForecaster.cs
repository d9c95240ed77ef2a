namespace EdgeRnn.Forecasting;

public enum Precision { Float32, Int8 }

public static class PrecisionExtensions
{
    /// <summary>The name flags, configuration and payloads use: "float32" or "int8".</summary>
    public static string Name(this Precision p) => p == Precision.Int8 ? "int8" : "float32";
}

/// <summary>
/// One sensor stream's forecaster as the daemon drives it: conditioned samples in, multi-horizon forecasts out,
/// learning online from values already observed. Observe is the hot path: it allocates nothing and never waits
/// on training (learning happens on a background learner that swaps in new weights atomically).
/// </summary>
public interface IStreamForecaster : IDisposable
{
    /// <summary>Model name and version (from the model file's metadata) for the forecast payload.</summary>
    string ModelName { get; }
    string ModelVersion { get; }
    Precision Precision { get; }

    /// <summary>Channel names the model expects, in order (the sample passed to Observe uses this order).</summary>
    IReadOnlyList<string> InputChannels { get; }

    /// <summary>Target channel names, in the order of the forecast's inner dimension.</summary>
    IReadOnlyList<string> Targets { get; }

    /// <summary>Steps ahead forecast at each sample.</summary>
    int Horizon { get; }

    /// <summary>The sampling period the model was trained at, if the model file records one.</summary>
    TimeSpan? SamplePeriod { get; }

    /// <summary>
    /// Feeds one sample (raw units, <see cref="InputChannels"/> order; NaN marks a missing value, which is never learned from)
    /// and writes the forecast [Horizon, Targets] (step-major, raw units). Returns false while the model warms up.
    /// </summary>
    bool Observe(ReadOnlySpan<float> sample, Span<float> forecast);

    /// <summary>
    /// <see cref="Observe(ReadOnlySpan{float}, Span{float})"/> plus the prediction interval of every forecast value: lower and
    /// upper [Horizon, Targets] (raw units; NaN where no interval is known yet, e.g. before the first residual).
    /// </summary>
    bool Observe(ReadOnlySpan<float> sample, Span<float> forecast, Span<float> lower, Span<float> upper)
    {
        bool ready = Observe(sample, forecast);
        lower.Fill(float.NaN);
        upper.Fill(float.NaN);
        return ready;
    }

    /// <summary>Fraction of forecast values so far that fell inside their interval (NaN without intervals).</summary>
    double RunningCoverage => double.NaN;

    /// <summary>The expert the online aggregate weights most (null without an aggregate).</summary>
    string? LeadingExpert => null;

    /// <summary>
    /// Online learning counters: updates, rollbacks, last loss (NaN when fine-tuning is off), and the aggregate's mean
    /// weight of the fine-tuned network (0..1; NaN without fine-tuning or without the aggregate).
    /// </summary>
    OnlineLearningStats Stats { get; }

    /// <summary>
    /// The forecaster's section of a checkpoint: everything needed to resume exactly (fine-tuned weights, recurrent state,
    /// recent history). The daemon's CheckpointCodec frames it and records <see cref="CheckpointVersion"/>, the layout
    /// written here; <see cref="ReadCheckpoint"/> gets back the version a section was written at (1..CheckpointVersion).
    /// </summary>
    int CheckpointVersion { get; }
    void WriteCheckpoint(BinaryWriter w);
    void ReadCheckpoint(BinaryReader r, int version);
}

public readonly record struct OnlineLearningStats(long Updates, long Rollbacks, long RejectedSamples, double LastLoss, double TunedWeight = double.NaN);
