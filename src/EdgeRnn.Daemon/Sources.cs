using EdgeRnn.Ingest;

namespace EdgeRnn.Daemon;

/// <summary>Turns a stream's source spec (serial:/dev/ttyUSB0@115200, csv:path, stdin, mqtt:topic/#) into an Ingest source.</summary>
public static class Sources
{
    /// <param name="channels">the model's input channels: CSV columns and MQTT JSON fields are read in this order</param>
    public static ISampleSource Create(ResolvedStream stream, MqttSettings? broker, IReadOnlyList<string>? channels, Action<string>? log = null) =>
        SourceFactory.Create(SourceSpec.Parse(stream.Source), new SourceOptions
        {
            MqttHost = broker?.Host ?? "localhost",
            MqttPort = broker?.Port ?? 1883,
            Channels = channels,
            CsvRateHz = stream.CsvRateHz,
            CsvId = stream.Id,
            CsvIdColumn = stream.IdColumn,
            Log = log,
        });

    /// <summary>Checks the spec's syntax without opening anything (for --validate).</summary>
    public static void Validate(string spec) => SourceSpec.Parse(spec);
}
