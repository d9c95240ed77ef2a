using EdgeRnn.Ingest;

namespace EdgeRnn.Daemon;

/// <summary>Turns a stream's source spec (serial:/dev/ttyUSB0@115200, csv:path, stdin, mqtt:topic/#) into a source.</summary>
public static class Sources
{
    public static ISampleSource Create(string spec, Action<string>? log = null)
    {
        var s = SourceSpec.Parse(spec);
        return s.Kind switch
        {
            SourceKind.Serial => new SerialSource(SerialSettings.FromSpec(s) with { Log = log }),
            _ => throw new NotSupportedException($"source '{spec}': {s.Kind} sources are not available in this build yet"),
        };
    }

    /// <summary>Checks the spec's syntax without opening anything (for --validate).</summary>
    public static void Validate(string spec) => SourceSpec.Parse(spec);
}
