namespace EdgeRnn.Ingest;

/// <summary>What a source needs beyond its spec string.</summary>
public sealed record SourceOptions
{
    /// <summary>MQTT broker for <c>mqtt:</c> sources.</summary>
    public string MqttHost { get; init; } = "localhost";
    public int MqttPort { get; init; } = 1883;
    /// <summary>Channels to read, in the model's input order (CSV columns, MQTT JSON fields); null: all / learned.</summary>
    public IReadOnlyList<string>? Channels { get; init; }
    /// <summary>CSV replay rate (rows per second); null: as fast as possible.</summary>
    public double? CsvRateHz { get; init; }
    public Action<string>? Log { get; init; }
}

public static class SourceFactory
{
    /// <summary>Builds the source a spec names, e.g. <c>SourceFactory.Create(SourceSpec.Parse("serial:/dev/ttyACM0@115200"), o)</c>.</summary>
    public static ISampleSource Create(SourceSpec spec, SourceOptions options) => spec.Kind switch
    {
        SourceKind.Serial => new SerialSource(SerialSettings.FromSpec(spec) with { Log = options.Log }),
        SourceKind.Csv => new CsvSource(spec.Target, new CsvOptions { Columns = options.Channels, RateHz = options.CsvRateHz }),
        SourceKind.Stdin => CsvSource.Stdin(new CsvOptions { Columns = options.Channels, RateHz = options.CsvRateHz }),
        SourceKind.Mqtt => new MqttSource(spec.Target, new MqttSourceOptions(options.MqttHost, options.MqttPort)
        {
            Fields = options.Channels,
            Log = options.Log,
        }),
        _ => throw new ArgumentOutOfRangeException(nameof(spec)),
    };
}
