namespace EdgeRnn.Forecasting;

public enum Precision { Float32, Int8 }

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
    /// Online learning counters: updates, rollbacks, last loss (NaN when fine-tuning is off), and the fine-tuning guard's
    /// served weight of the tuned model (0 = the shipped weights are served, 1 = the fine-tuned ones; NaN without a guard).
    /// </summary>
    OnlineLearningStats Stats { get; }

    /// <summary>Everything needed to resume exactly: fine-tuned weights, recurrent state, recent history.</summary>
    void WriteCheckpoint(Stream destination);
    void ReadCheckpoint(Stream source);
}

public readonly record struct OnlineLearningStats(long Updates, long Rollbacks, long RejectedSamples, double LastLoss, double TunedWeight = double.NaN);
