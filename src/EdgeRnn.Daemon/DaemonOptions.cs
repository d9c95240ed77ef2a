using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace EdgeRnn.Daemon;

/// <summary>
/// Everything `edgernn run` can be told, from (lowest to highest precedence) the JSON file given by --config, EDGERNN_*
/// environment variables, and command-line flags. Flat keys (Source, Model, Precision...) describe one stream and are also
/// the defaults for each entry of <see cref="Streams"/>. Bound by the configuration-binding source generator (no reflection).
/// </summary>
public sealed class DaemonOptions
{
    // one stream, or the defaults for every entry of Streams
    public string? Stream { get; set; }
    public string? Source { get; set; }
    public string? Model { get; set; }
    public string? Precision { get; set; }
    public string? FineTune { get; set; }
    public double? SamplePeriodSeconds { get; set; }
    /// <summary>on: resample onto the model's period grid and fill short gaps; off: samples go to the model as they come.</summary>
    public string? Condition { get; set; }
    /// <summary>CSV/stdin replay rate in rows per second (default: as fast as possible).</summary>
    public double? CsvRateHz { get; set; }
    /// <summary>Long-format CSV: the series (e.g. a Home Assistant entity_id) this stream reads, and its id column.</summary>
    public string? Id { get; set; }
    public string? IdColumn { get; set; }
    /// <summary>MQTT source: where the value is in a JSON payload ("temperature", "sensor.temp"); default: by channel name.</summary>
    public string? Field { get; set; }
    public List<StreamOptions> Streams { get; set; } = new();

    // MQTT: mqtt://host:port or mqtts://host:port; secrets come from files or the environment, never from flags
    public string? Mqtt { get; set; }
    public string? MqttCa { get; set; }
    public string? MqttCert { get; set; }
    public string? MqttKey { get; set; }
    public string? MqttUsername { get; set; }
    public string? MqttPasswordFile { get; set; }
    public string? MqttClientId { get; set; }
    public string TopicPrefix { get; set; } = "edgernn";
    public string? Gateway { get; set; }
    public string DiscoveryPrefix { get; set; } = "homeassistant";
    public bool Discovery { get; set; } = true;
    public uint MessageExpirySeconds { get; set; } = 3600;
    public uint SessionExpirySeconds { get; set; } = 86400;

    public string? StateDir { get; set; }
    public long OutboxMaxBytes { get; set; } = 32L << 20;
    public double OutboxFsyncSeconds { get; set; } = 1.0;
    public double CheckpointIntervalSeconds { get; set; } = 300;
    public double DrainTimeoutSeconds { get; set; } = 10;
    /// <summary>host:port of the /healthz and /metrics responder, "off" to disable.</summary>
    public string Metrics { get; set; } = "127.0.0.1:9108";
    public string LogLevel { get; set; } = "Information";
}

public sealed class StreamOptions
{
    public string? Name { get; set; }
    public string? Source { get; set; }
    public string? Model { get; set; }
    public string? Precision { get; set; }
    public string? FineTune { get; set; }
    public double? SamplePeriodSeconds { get; set; }
    public string? Condition { get; set; }
    public double? CsvRateHz { get; set; }
    public string? Id { get; set; }
    public string? IdColumn { get; set; }
    public string? Field { get; set; }
}

/// <summary>A stream after defaults and validation.</summary>
public sealed record ResolvedStream(string Name, string Source, string Model, EdgeRnn.Forecasting.Precision Precision, bool FineTune, TimeSpan? SamplePeriod, bool Condition = false, double? CsvRateHz = null,
    string? Id = null, string? IdColumn = null, string? Field = null);

/// <summary>Options after validation: what the daemon actually runs with.</summary>
public sealed record DaemonSettings(
    IReadOnlyList<ResolvedStream> Streams,
    MqttSettings? Mqtt,
    string TopicPrefix, string Gateway, string DiscoveryPrefix, bool Discovery,
    uint MessageExpirySeconds, uint SessionExpirySeconds,
    string StateDir, long OutboxMaxBytes, TimeSpan OutboxFsync, TimeSpan CheckpointInterval, TimeSpan DrainTimeout,
    System.Net.IPEndPoint? Metrics, Microsoft.Extensions.Logging.LogLevel LogLevel);

public sealed record MqttSettings(string Host, int Port, bool Tls, string? CaFile, string? CertFile, string? KeyFile, string? Username, string? Password, string ClientId);

/// <summary>A configuration mistake: printed as one clear line naming the setting, exit code 2.</summary>
public sealed class ConfigException(string message) : Exception(message);

public static class DaemonConfig
{
    /// <summary>Flags `edgernn run` accepts; each maps to the configuration key of the same name without dashes.</summary>
    public static readonly string[] ValueFlags =
    [
        "config", "stream", "source", "model", "precision", "fine-tune", "sample-period-seconds", "condition", "csv-rate-hz",
        "mqtt", "mqtt-ca", "mqtt-cert", "mqtt-key", "mqtt-username", "mqtt-password-file", "mqtt-client-id",
        "topic-prefix", "gateway", "discovery-prefix", "discovery", "message-expiry-seconds", "session-expiry-seconds",
        "state-dir", "outbox-max-bytes", "outbox-fsync-seconds", "checkpoint-interval-seconds", "drain-timeout-seconds",
        "metrics", "log-level",
    ];

    /// <summary>Parses flags, then layers JSON file, environment, flags; returns bound options plus whether --validate was given.</summary>
    public static (DaemonOptions Options, bool ValidateOnly) Load(string[] args, IDictionary<string, string?>? environment = null)
    {
        var flags = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        bool validate = false;
        string? configPath = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal)) throw new ConfigException($"unexpected argument '{a}'");
            string name = a[2..];
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
            if (name == "validate") { validate = true; continue; }
            if (name is "mqtt-password" or "password")
                throw new ConfigException("--mqtt-password is not accepted: a password on the command line is visible to every user (ps); use --mqtt-password-file FILE or the EDGERNN_MQTT_PASSWORD environment variable");
            if (Array.IndexOf(ValueFlags, name) < 0) throw new ConfigException($"unknown option --{name} (known: --validate, --{string.Join(", --", ValueFlags)})");
            if (value is null)
            {
                if (i + 1 >= args.Length) throw new ConfigException($"--{name} needs a value");
                value = args[++i];
            }
            if (name == "config") configPath = value;
            else flags[name.Replace("-", "", StringComparison.Ordinal)] = value;
        }

        var env = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var source = environment ?? ReadEnvironment();
        foreach (var kv in source)
        {
            if (!kv.Key.StartsWith("EDGERNN_", StringComparison.OrdinalIgnoreCase)) continue;
            string key = kv.Key["EDGERNN_".Length..];
            if (key.Equals("MQTT_PASSWORD", StringComparison.OrdinalIgnoreCase) || key.Equals("PYTHON", StringComparison.OrdinalIgnoreCase)) continue;
            if (key.Equals("CONFIG", StringComparison.OrdinalIgnoreCase)) { configPath ??= kv.Value; continue; }
            // EDGERNN_TOPIC_PREFIX -> TopicPrefix; EDGERNN_STREAMS__0__SOURCE -> Streams:0:Source
            env[string.Join(':', key.Split("__").Select(s => s.Replace("_", "", StringComparison.Ordinal)))] = kv.Value;
        }

        var builder = new ConfigurationBuilder();
        if (configPath is not null)
        {
            string full = Path.GetFullPath(configPath);
            if (!File.Exists(full)) throw new ConfigException($"config file {full} does not exist");
            builder.AddJsonFile(full, optional: false, reloadOnChange: false);
        }
        builder.AddInMemoryCollection(env).AddInMemoryCollection(flags);
        IConfigurationRoot root;
        try { root = builder.Build(); }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException)
        {
            throw new ConfigException($"config file {configPath}: {(e.InnerException ?? e).Message}");
        }
        var options = new DaemonOptions();
        try { root.Bind(options); }
        catch (InvalidOperationException e) { throw new ConfigException($"configuration: {(e.InnerException ?? e).Message} ({e.Message})"); }
        return (options, validate);
    }

    private static Dictionary<string, string?> ReadEnvironment()
    {
        var d = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables()) d[(string)e.Key] = (string?)e.Value;
        return d;
    }

    /// <summary>Checks every setting and fills defaults; every error names the setting.</summary>
    public static DaemonSettings Resolve(DaemonOptions o, IDictionary<string, string?>? environment = null)
    {
        var errors = new List<string>();
        var streams = new List<ResolvedStream>();
        var entries = o.Streams.Count > 0 ? o.Streams : [new StreamOptions()];
        for (int i = 0; i < entries.Count; i++)
        {
            var s = entries[i];
            string where = o.Streams.Count > 0 ? $"Streams[{i}]" : "";
            string Key(string k) => where.Length > 0 ? $"{where}.{k}" : k;
            string name = s.Name ?? (o.Streams.Count > 0 ? $"stream{i}" : o.Stream ?? "sensor");
            if (!IsTopicLevel(name)) errors.Add($"{Key("Name")}: '{name}' must be a non-empty MQTT topic level without '/', '+', '#'");
            if (streams.Any(x => x.Name == name)) errors.Add($"{Key("Name")}: stream name '{name}' is used twice");
            string? src = s.Source ?? o.Source;
            if (string.IsNullOrWhiteSpace(src)) errors.Add($"{Key("Source")}: missing (e.g. serial:/dev/ttyUSB0@115200, csv:data.csv, stdin, mqtt:sensors/#)");
            string? model = s.Model ?? o.Model;
            if (string.IsNullOrWhiteSpace(model)) errors.Add($"{Key("Model")}: missing (path to a .safetensors model)");
            else if (!File.Exists(model)) errors.Add($"{Key("Model")}: model file {Path.GetFullPath(model)} does not exist");
            var precision = EdgeRnn.Forecasting.Precision.Int8;
            string? p = s.Precision ?? o.Precision;
            if (p is not null && !TryParsePrecision(p, out precision)) errors.Add($"{Key("Precision")}: '{p}' is not int8 or float32");
            bool fineTune = true;
            string? ft = s.FineTune ?? o.FineTune;
            if (ft is not null && !TryParseOnOff(ft, out fineTune)) errors.Add($"{Key("FineTune")}: '{ft}' is not on or off");
            double? period = s.SamplePeriodSeconds ?? o.SamplePeriodSeconds;
            if (period is <= 0 or > 86400 * 366) errors.Add($"{Key("SamplePeriodSeconds")}: {period} must be positive");
            bool condition = true;
            string? cond = s.Condition ?? o.Condition;
            if (cond is not null && !TryParseOnOff(cond, out condition)) errors.Add($"{Key("Condition")}: '{cond}' is not on or off");
            double? rate = s.CsvRateHz ?? o.CsvRateHz;
            if (rate is <= 0) errors.Add($"{Key("CsvRateHz")}: {rate} must be positive");
            if (src is not null && !string.IsNullOrWhiteSpace(src))
            {
                try { EdgeRnn.Ingest.SourceSpec.Parse(src); }
                catch (FormatException e) { errors.Add($"{Key("Source")}: {e.Message}"); }
            }
            streams.Add(new ResolvedStream(name, src ?? "", model ?? "", precision, fineTune, period is > 0 ? TimeSpan.FromSeconds(period.Value) : null, condition, rate,
                s.Id ?? o.Id, s.IdColumn ?? o.IdColumn, s.Field ?? o.Field));
        }

        MqttSettings? mqtt = null;
        string gateway = o.Gateway ?? SanitizeTopicLevel(Environment.MachineName);
        if (!IsTopicLevel(gateway)) errors.Add($"Gateway: '{gateway}' must be a non-empty MQTT topic level without '/', '+', '#'");
        if (string.IsNullOrEmpty(o.TopicPrefix) || o.TopicPrefix.IndexOfAny(['+', '#']) >= 0 || o.TopicPrefix.StartsWith('/') || o.TopicPrefix.EndsWith('/'))
            errors.Add($"TopicPrefix: '{o.TopicPrefix}' must be non-empty, without wildcards or leading/trailing '/'");
        if (o.Mqtt is not null)
        {
            if (!Uri.TryCreate(o.Mqtt, UriKind.Absolute, out var uri) || uri.Scheme is not ("mqtt" or "mqtts") || string.IsNullOrEmpty(uri.Host))
                errors.Add($"Mqtt: '{o.Mqtt}' is not mqtt://host[:port] or mqtts://host[:port]");
            else if (!string.IsNullOrEmpty(uri.UserInfo))
                errors.Add("Mqtt: credentials in the URL are not accepted (they end up in logs and ps); use MqttUsername and MqttPasswordFile or EDGERNN_MQTT_PASSWORD");
            else
            {
                bool tls = uri.Scheme == "mqtts";
                int port = uri.IsDefaultPort || uri.Port <= 0 ? (tls ? 8883 : 1883) : uri.Port;
                foreach (var (k, f) in new[] { ("MqttCa", o.MqttCa), ("MqttCert", o.MqttCert), ("MqttKey", o.MqttKey), ("MqttPasswordFile", o.MqttPasswordFile) })
                    if (f is not null && !File.Exists(f)) errors.Add($"{k}: file {Path.GetFullPath(f)} does not exist");
                if (!tls && (o.MqttCa ?? o.MqttCert ?? o.MqttKey) is not null) errors.Add("MqttCa/MqttCert/MqttKey need an mqtts:// URL");
                if ((o.MqttCert is null) != (o.MqttKey is null)) errors.Add("MqttCert and MqttKey go together (PEM certificate and its private key)");
                string? password = null;
                var env = environment ?? ReadEnvironmentAsDict();
                if (o.MqttPasswordFile is not null && File.Exists(o.MqttPasswordFile)) password = File.ReadAllText(o.MqttPasswordFile).TrimEnd('\r', '\n');
                else if (env.TryGetValue("EDGERNN_MQTT_PASSWORD", out var pw)) password = pw;
                if (password is not null && o.MqttUsername is null) errors.Add("a MQTT password was given without MqttUsername");
                mqtt = new MqttSettings(uri.Host, port, tls, o.MqttCa, o.MqttCert, o.MqttKey, o.MqttUsername, password,
                    o.MqttClientId ?? $"edgernn-{gateway}");
            }
        }

        string stateDir = o.StateDir ?? Environment.GetEnvironmentVariable("STATE_DIRECTORY")?.Split(':')[0] ?? "/var/lib/edgernn";
        if (o.OutboxMaxBytes < 16 * 1024) errors.Add($"OutboxMaxBytes: {o.OutboxMaxBytes} is below the 16384-byte minimum");
        if (o.OutboxFsyncSeconds < 0) errors.Add("OutboxFsyncSeconds: must be >= 0 (0 = no timer; fsync at shutdown only)");
        if (o.CheckpointIntervalSeconds <= 0) errors.Add("CheckpointIntervalSeconds: must be positive");
        if (o.DrainTimeoutSeconds < 0) errors.Add("DrainTimeoutSeconds: must be >= 0");
        System.Net.IPEndPoint? metrics = null;
        if (!o.Metrics.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            if (!System.Net.IPEndPoint.TryParse(o.Metrics, out metrics) || metrics.Port is < 0 or > 65535)
                errors.Add($"Metrics: '{o.Metrics}' is not ip:port (e.g. 127.0.0.1:9108) or off");
        }
        if (!Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(o.LogLevel, true, out var level))
            errors.Add($"LogLevel: '{o.LogLevel}' is not Trace, Debug, Information, Warning, Error or None");

        if (errors.Count > 0) throw new ConfigException(string.Join(Environment.NewLine, errors));
        return new DaemonSettings(streams, mqtt, o.TopicPrefix, gateway, o.DiscoveryPrefix, o.Discovery,
            o.MessageExpirySeconds, o.SessionExpirySeconds, stateDir, o.OutboxMaxBytes, TimeSpan.FromSeconds(o.OutboxFsyncSeconds),
            TimeSpan.FromSeconds(o.CheckpointIntervalSeconds), TimeSpan.FromSeconds(o.DrainTimeoutSeconds), metrics, level);
    }

    private static Dictionary<string, string?> ReadEnvironmentAsDict() => ReadEnvironment();

    public static bool TryParsePrecision(string s, out EdgeRnn.Forecasting.Precision p)
    {
        switch (s.ToLowerInvariant())
        {
            case "int8": p = EdgeRnn.Forecasting.Precision.Int8; return true;
            case "float32" or "float" or "fp32": p = EdgeRnn.Forecasting.Precision.Float32; return true;
            default: p = default; return false;
        }
    }

    public static bool TryParseOnOff(string s, out bool on)
    {
        switch (s.ToLowerInvariant())
        {
            case "on" or "true" or "yes" or "1": on = true; return true;
            case "off" or "false" or "no" or "0": on = false; return true;
            default: on = false; return false;
        }
    }

    private static bool IsTopicLevel(string s) => s.Length > 0 && s.IndexOfAny(['/', '+', '#', '\0']) < 0;

    private static string SanitizeTopicLevel(string s)
    {
        var chars = s.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-').ToArray();
        return chars.Length == 0 ? "gateway" : new string(chars);
    }

    internal static string Invariant(double d) => d.ToString("R", CultureInfo.InvariantCulture);
}
