namespace EdgeRnn.Ingest;

/// <summary>What a source needs beyond its spec string.</summary>
public sealed record SourceOptions
{
    /// <summary>MQTT broker for <c>mqtt:</c> sources.</summary>
    public string MqttHost { get; init; } = "localhost";
    public int MqttPort { get; init; } = 1883;
    /// <summary>Credentials and TLS for <c>mqtt:</c> sources (the daemon passes the publisher's unless SourceMqtt is set).</summary>
    public string? MqttUsername { get; init; }
    public string? MqttPassword { get; init; }
    public bool MqttTls { get; init; }
    public string? MqttCaFile { get; init; }
    public string? MqttCertFile { get; init; }
    public string? MqttKeyFile { get; init; }
    /// <summary>JSON payloads: dotted path of each channel's value, comma-separated ("temperature" or "a.temp,a.hum").</summary>
    public string? MqttFields { get; init; }
    /// <summary>Channels to read, in the model's input order (CSV columns, MQTT JSON fields); null: all / learned.</summary>
    public IReadOnlyList<string>? Channels { get; init; }
    /// <summary>CSV replay rate (rows per second); null: as fast as possible.</summary>
    public double? CsvRateHz { get; init; }
    /// <summary>Long-format CSV: the series to read and its id column (null: entity_id when present).</summary>
    public string? CsvId { get; init; }
    public string? CsvIdColumn { get; init; }
    public Action<string>? Log { get; init; }
}

public static class SourceFactory
{
    /// <summary>Builds the source a spec names, e.g. <c>SourceFactory.Create(SourceSpec.Parse("serial:/dev/ttyACM0@115200"), o)</c>.</summary>
    public static ISampleSource Create(SourceSpec spec, SourceOptions options) => spec.Kind switch
    {
        SourceKind.Serial => new SerialSource(SerialSettings.FromSpec(spec) with { Log = options.Log }),
        SourceKind.Csv => new CsvSource(spec.Target, CsvOptionsFrom(options)),
        SourceKind.Stdin => CsvSource.Stdin(CsvOptionsFrom(options)),
        SourceKind.Mqtt => new MqttSource(spec.Target, new MqttSourceOptions(options.MqttHost, options.MqttPort)
        {
            Fields = options.Channels,
            FieldPaths = options.MqttFields?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
            Username = options.MqttUsername,
            Password = options.MqttPassword,
            Tls = options.MqttTls,
            CaFile = options.MqttCaFile,
            CertFile = options.MqttCertFile,
            KeyFile = options.MqttKeyFile,
            Log = options.Log,
        }),
        _ => throw new ArgumentOutOfRangeException(nameof(spec)),
    };

    private static CsvOptions CsvOptionsFrom(SourceOptions o) => new()
    {
        Columns = o.Channels, RateHz = o.CsvRateHz, Id = o.CsvId, IdColumn = o.CsvIdColumn, Log = o.Log,
    };
}
