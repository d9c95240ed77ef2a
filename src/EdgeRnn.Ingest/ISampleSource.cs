namespace EdgeRnn.Ingest;

/// <summary>
/// Receives timestamped multi-channel samples from a source. Called on the source's own thread;
/// the span is only valid during the call (copy what you keep). Implementations must not block for long.
/// </summary>
public interface ISampleSink
{
    /// <param name="stream">the stream (sensor) the sample belongs to: a device id, an MQTT topic, a file name</param>
    /// <param name="timestampMs">Unix time in milliseconds of the measurement</param>
    /// <param name="values">one value per channel, in the order of <see cref="ISampleSource.Channels"/> for that stream</param>
    void OnSample(string stream, long timestampMs, ReadOnlySpan<float> values);
}

/// <summary>A source of samples (serial device, MQTT subscription, CSV file, stdin). Runs until cancelled or exhausted.</summary>
public interface ISampleSource : IAsyncDisposable
{
    /// <summary>Human-readable description for logs, e.g. "serial:/dev/ttyUSB0@115200".</summary>
    string Description { get; }

    /// <summary>Channel names per stream as far as known (a serial device announces them in its hello frame).</summary>
    IReadOnlyList<string> Channels { get; }

    /// <summary>Counters for observability (bytes, frames, bad frames, gaps, reconnects...), name → value.</summary>
    IReadOnlyDictionary<string, long> Counters { get; }

    /// <summary>Reads until cancelled (live sources) or until the input ends (files, stdin).</summary>
    Task RunAsync(ISampleSink sink, CancellationToken cancellationToken);
}
