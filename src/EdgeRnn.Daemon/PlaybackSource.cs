using EdgeRnn.Ingest;

namespace EdgeRnn.Daemon;

/// <summary>
/// A simulated sensor for the demo: plays a recorded series at a fixed rate, keeping the recording's own timestamps
/// (shifted forward on each loop so time never goes backwards). The first burstRows rows go out at once (history to warm the model up).
/// </summary>
public sealed class PlaybackSource(string stream, IReadOnlyList<string> channels, long[] timestamps, float[][] rows, double rateHz, int startRow, int burstRows = 0) : ISampleSource
{
    private long _samples;
    public string Description => $"playback:{stream}@{rateHz}Hz";
    public IReadOnlyList<string> Channels => channels;
    public IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long> { ["samples"] = Interlocked.Read(ref _samples) };
    public int Position { get; private set; } = startRow;

    public async Task RunAsync(ISampleSink sink, CancellationToken cancellationToken)
    {
        if (rows.Length < 2) throw new InvalidDataException("playback needs at least two rows");
        long span = timestamps[^1] - timestamps[0] + (timestamps[1] - timestamps[0]);
        long shift = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / rateHz));
        int burst = burstRows;
        while (burst-- > 0 || await timer.WaitForNextTickAsync(cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            int i = Position;
            sink.OnSample(stream, timestamps[i] + shift, rows[i]);
            Interlocked.Increment(ref _samples);
            Position = i + 1;
            if (Position == rows.Length) { Position = 0; shift += span; }
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
