using EdgeRnn.Ingest;

namespace EdgeRnn.Daemon;

/// <summary>Turns a stream's source spec (serial:/dev/ttyUSB0@115200, csv:path, stdin, mqtt:topic/#) into a source.</summary>
public static class Sources
{
    public static ISampleSource Create(string spec) =>
        throw new NotSupportedException($"source '{spec}': sources come from EdgeRnn.Ingest's SourceSpec (not merged yet)");

    /// <summary>Checks the spec's syntax without opening anything (for --validate).</summary>
    public static void Validate(string spec) { }
}
