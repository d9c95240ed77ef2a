using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace EdgeRnn.Daemon;

/// <summary>
/// Everything `edgernn run` can be told, from (lowest to highest precedence) the JSON file given by --config, EDGERNN_*
/// environment variables, and command-line flags. The per-stream keys are <see cref="StreamOptions"/>'s: given at the top
/// level they describe the one stream (named by <see cref="Stream"/>) and are the defaults of every entry of
/// <see cref="Streams"/>, which is a list of the same type (<see cref="StreamOptions.Over"/> merges an entry over them).
/// Bound by the configuration-binding source generator (no reflection).
/// </summary>
public sealed class DaemonOptions : StreamOptions
{
    /// <summary>The name of the one stream when <see cref="Streams"/> is empty (default "sensor").</summary>
    public string? Stream { get; set; }
    public List<StreamOptions> Streams { get; set; } = new();

    // MQTT: mqtt://host:port or mqtts://host:port; secrets come from files or the environment, never from flags
    public string? Mqtt { get; set; }
    public string? MqttCa { get; set; }
    public string? MqttCert { get; set; }
    public string? MqttKey { get; set; }
    public string? MqttUsername { get; set; }
    public string? MqttPasswordFile { get; set; }
    public string? MqttClientId { get; set; }
    /// <summary>
    /// Broker for mqtt: sources when it is not the publisher's: mqtt(s)://host[:port], with its own username and password
    /// file (EDGERNN_SOURCE_MQTT_PASSWORD); TLS files (MqttCa, MqttCert, MqttKey) are shared. Unset: sources use the
    /// publisher's broker, credentials and TLS settings.
    /// </summary>
    public string? SourceMqtt { get; set; }
    public string? SourceMqttUsername { get; set; }
    public string? SourceMqttPasswordFile { get; set; }
    public string TopicPrefix { get; set; } = "edgernn";
    public string? Gateway { get; set; }
    public string DiscoveryPrefix { get; set; } = "homeassistant";
    /// <summary>Home Assistant discovery: on or off (true/false, yes/no accepted, as for every switch).</summary>
    public string Discovery { get; set; } = "on";
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

    /// <summary>Anomaly score per sample on &lt;prefix&gt;/&lt;gateway&gt;/&lt;stream&gt;/anomaly: on or off.</summary>
    public string Anomaly { get; set; } = "on";
    /// <summary>Score at or above which a sample is an alert ("anomaly": true; the binary_sensor turns on), in (0, 1].</summary>
    public double AnomalyThreshold { get; set; } = StreamAnomaly.DefaultThreshold;
    /// <summary>Detector settings as `edgernn detect --set` takes them ("WarmupRows=288,SeasonRows=0").</summary>
    public string? AnomalySettings { get; set; }
}

/// <summary>
/// One stream's settings; at the top level of <see cref="DaemonOptions"/> the same keys are every stream's defaults.
/// Unset (null) keys take the default's value (<see cref="Over"/>), then the built-in default (<see cref="DaemonConfig.Resolve"/>).
/// </summary>
public class StreamOptions
{
    /// <summary>The stream's name (topic level); at the top level the same as <see cref="DaemonOptions.Stream"/>.</summary>
    public string? Name { get; set; }
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
    /// <summary>Home Assistant: unit_of_measurement and device_class of the forecast sensors (e.g. "°C", "temperature").</summary>
    public string? Unit { get; set; }
    public string? DeviceClass { get; set; }
    /// <summary>
    /// Warm start: a CSV of this stream's history (same columns/Id as the source), or mqtt:TOPIC (retained messages or a
    /// retained [[ts, value...], ...] history payload on the source broker), that fills the model's lookback at start when no
    /// checkpoint does.
    /// </summary>
    public string? WarmStart { get; set; }
    /// <summary>A network-only model file (no 'format' key): what its outputs and inputs are, comma-separated ("temp,humidity").</summary>
    public string? Targets { get; set; }
    public string? Features { get; set; }
    /// <summary>Online fine-tuning (FineTune on): "Online": { "Every": 8, "LearningRate": 3e-4, ... }.</summary>
    public OnlineSettings Online { get; set; } = new();
    /// <summary>Conditioning (Condition on): "Conditioning": { "GapPolicy": "hold", "MaxHoldSeconds": 600, "MaxGapSeconds": 900 }.</summary>
    public ConditionSettings Conditioning { get; set; } = new();

    /// <summary>This entry over <paramref name="d"/>: every key unset here takes d's (Name excepted: each stream names itself).</summary>
    public StreamOptions Over(StreamOptions d) => new()
    {
        Name = Name, Source = Source ?? d.Source, Model = Model ?? d.Model, Precision = Precision ?? d.Precision, FineTune = FineTune ?? d.FineTune,
        SamplePeriodSeconds = SamplePeriodSeconds ?? d.SamplePeriodSeconds, Condition = Condition ?? d.Condition, CsvRateHz = CsvRateHz ?? d.CsvRateHz,
        Id = Id ?? d.Id, IdColumn = IdColumn ?? d.IdColumn, Field = Field ?? d.Field, Unit = Unit ?? d.Unit, DeviceClass = DeviceClass ?? d.DeviceClass,
        WarmStart = WarmStart ?? d.WarmStart, Targets = Targets ?? d.Targets, Features = Features ?? d.Features,
        Online = Online.Over(d.Online), Conditioning = Conditioning.Over(d.Conditioning),
    };
}

/// <summary>The configurable part of <see cref="EdgeRnn.Forecasting.OnlineOptions"/>; unset keys keep its defaults.</summary>
public sealed class OnlineSettings
{
    public int? Every { get; set; }
    public int? Batch { get; set; }
    public int? Chunk { get; set; }
    public int? Warmup { get; set; }
    public int? Replay { get; set; }
    public float? LearningRate { get; set; }
    public double? SpikeFactor { get; set; }
    public double? RollbackFactor { get; set; }

    public OnlineSettings Over(OnlineSettings d) => new()
    {
        Every = Every ?? d.Every, Batch = Batch ?? d.Batch, Chunk = Chunk ?? d.Chunk, Warmup = Warmup ?? d.Warmup, Replay = Replay ?? d.Replay,
        LearningRate = LearningRate ?? d.LearningRate, SpikeFactor = SpikeFactor ?? d.SpikeFactor, RollbackFactor = RollbackFactor ?? d.RollbackFactor,
    };

    /// <summary>The learner's options; each problem is added to <paramref name="errors"/> under <paramref name="key"/>.</summary>
    public EdgeRnn.Forecasting.OnlineOptions Resolve(string key, List<string> errors)
    {
        var o = new EdgeRnn.Forecasting.OnlineOptions();
        int Count(string name, int? v, int fallback, int min, int max)
        {
            if (v is { } x && (x < min || x > max)) errors.Add($"{key}.{name}: {x} is outside {min}..{max}");
            return v ?? fallback;
        }
        double Factor(string name, double? v, double fallback)
        {
            if (v is { } x && !(x > 1 && double.IsFinite(x))) errors.Add($"{key}.{name}: {x} must be a finite number above 1");
            return v ?? fallback;
        }
        if (LearningRate is { } lr && !(lr > 0 && lr < 1)) errors.Add($"{key}.LearningRate: {lr} must be in (0, 1)");
        return o with
        {
            Every = Count("Every", Every, o.Every, 1, 1_000_000), Batch = Count("Batch", Batch, o.Batch, 1, 1024),
            Chunk = Count("Chunk", Chunk, o.Chunk, 1, 100_000), Warmup = Count("Warmup", Warmup, o.Warmup, 0, 1_000_000),
            Replay = Count("Replay", Replay, o.Replay, 16, 10_000_000), LearningRate = LearningRate ?? o.LearningRate,
            SpikeFactor = Factor("SpikeFactor", SpikeFactor, o.SpikeFactor), RollbackFactor = Factor("RollbackFactor", RollbackFactor, o.RollbackFactor),
        };
    }
}

/// <summary>The configurable part of the conditioner (<see cref="EdgeRnn.Ingest.ConditionerOptions"/>); unset keys keep its defaults.</summary>
public sealed class ConditionSettings
{
    /// <summary>hold (the last valid value, for at most MaxHoldSeconds) or mark-missing (NaN at once).</summary>
    public string? GapPolicy { get; set; }
    public double? MaxHoldSeconds { get; set; }
    public double? MaxGapSeconds { get; set; }

    public ConditionSettings Over(ConditionSettings d) => new()
    { GapPolicy = GapPolicy ?? d.GapPolicy, MaxHoldSeconds = MaxHoldSeconds ?? d.MaxHoldSeconds, MaxGapSeconds = MaxGapSeconds ?? d.MaxGapSeconds };

    /// <summary>The conditioner's options (PeriodMs 0: the pipeline sets it from the period); each problem is added to <paramref name="errors"/>.</summary>
    public EdgeRnn.Ingest.ConditionerOptions Resolve(string key, List<string> errors)
    {
        var policy = EdgeRnn.Ingest.GapPolicy.Hold;
        switch (GapPolicy?.Trim().ToLowerInvariant())
        {
            case null or "hold": break;
            case "mark-missing" or "markmissing" or "nan": policy = EdgeRnn.Ingest.GapPolicy.MarkMissing; break;
            default: errors.Add($"{key}.GapPolicy: '{GapPolicy}' is not hold or mark-missing"); break;
        }
        long? Ms(string name, double? seconds)
        {
            if (seconds is not { } x) return null;
            if (!(x > 0 && x <= 366 * 86400.0)) { errors.Add($"{key}.{name}: {x} must be a positive number of seconds"); return null; }
            return (long)Math.Round(x * 1000);
        }
        return new EdgeRnn.Ingest.ConditionerOptions(0)
        { GapPolicy = policy, MaxHoldMs = Ms("MaxHoldSeconds", MaxHoldSeconds), MaxGapMs = Ms("MaxGapSeconds", MaxGapSeconds) };
    }
}

/// <summary>A stream after defaults and validation.</summary>
public sealed record ResolvedStream(string Name, string Source, string Model, EdgeRnn.Forecasting.Precision Precision, bool FineTune, TimeSpan? SamplePeriod, bool Condition = false, double? CsvRateHz = null,
    string? Id = null, string? IdColumn = null, string? Field = null, string? Unit = null, string? DeviceClass = null, string? WarmStart = null,
    EdgeRnn.Forecasting.NetworkOnlyInfo? NetworkOnly = null)
{
    /// <summary>The online learner's settings (FineTune on).</summary>
    public EdgeRnn.Forecasting.OnlineOptions Online { get; init; } = new();
    /// <summary>The conditioner's settings (Condition on); its PeriodMs is set from the model's or the stream's period.</summary>
    public EdgeRnn.Ingest.ConditionerOptions Conditioning { get; init; } = new(0);

    /// <summary>
    /// The stream's forecaster, as `run` and `run --validate` load it. A network-only file is served as is: its outputs
    /// named by <see cref="NetworkOnly"/> (or its metadata), fine-tuning off whatever FineTune says (it has no scaler to learn in).
    /// </summary>
    /// <param name="createNetwork">builds the network that keeps the file's weights (a <see cref="SharedModelBatches"/> slot); null: its own</param>
    public EdgeRnn.Forecasting.StreamForecaster LoadForecaster(bool fineTune, Func<EdgeRnn.Model.ForecasterParameters, EdgeRnn.Model.IForecaster>? createNetwork = null)
    {
        var model = EdgeRnn.Forecasting.ForecasterFile.Load(Model, NetworkOnly);
        return new EdgeRnn.Forecasting.StreamForecaster(model, new EdgeRnn.Forecasting.StreamForecasterOptions
        { Precision = Precision, FineTune = fineTune && !model.IsNetworkOnly, NetworkOnly = NetworkOnly, Online = Online, CreateNetwork = createNetwork });
    }
}

/// <summary>Options after validation: what the daemon actually runs with.</summary>
public sealed record DaemonSettings(
    IReadOnlyList<ResolvedStream> Streams,
    MqttSettings? Mqtt,
    string TopicPrefix, string Gateway, string DiscoveryPrefix, bool Discovery,
    uint MessageExpirySeconds, uint SessionExpirySeconds,
    string StateDir, long OutboxMaxBytes, TimeSpan OutboxFsync, TimeSpan CheckpointInterval, TimeSpan DrainTimeout,
    System.Net.IPEndPoint? Metrics, Microsoft.Extensions.Logging.LogLevel LogLevel)
{
    /// <summary>The broker mqtt: sources subscribe at (SourceMqtt, else the publisher's Mqtt; null: localhost:1883 without credentials).</summary>
    public MqttSettings? SourceMqtt { get; init; }
    /// <summary>Anomaly scores per stream (null: off): the alert threshold and the detector's settings.</summary>
    public AnomalySettings? Anomaly { get; init; }
}

/// <summary>The anomaly detector's settings after validation: the alert threshold and `detect --set`-style overrides.</summary>
public sealed record AnomalySettings(double Threshold, string? Overrides);

public sealed record MqttSettings(string Host, int Port, bool Tls, string? CaFile, string? CertFile, string? KeyFile, string? Username, string? Password, string ClientId);

/// <summary>A configuration mistake: printed as one clear line naming the setting, exit code 2.</summary>
public sealed class ConfigException(string message) : Exception(message);

public static class DaemonConfig
{
    /// <summary>
    /// Flags `edgernn run` accepts (besides --config and --validate), read off the settings themselves so a new setting is a
    /// flag at once: every scalar key of <see cref="DaemonOptions"/> and <see cref="StreamOptions"/>, kebab-cased
    /// (TopicPrefix: --topic-prefix), except --rate (CsvRateHz) and --period (SamplePeriodSeconds; a duration such as 300,
    /// 5m or 1h), whose old names --csv-rate-hz and --sample-period-seconds are aliases (<see cref="Args.Aliases"/>).
    /// The sections (Streams, Online, Conditioning) and Name (--stream names the one stream) are configuration only.
    /// Flag name → configuration key.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> FlagKeys = typeof(DaemonOptions).GetProperties()
        .Where(p => p.Name is not (nameof(DaemonOptions.Streams) or nameof(StreamOptions.Online) or nameof(StreamOptions.Conditioning) or nameof(StreamOptions.Name)))
        .ToDictionary(p => p.Name switch
        {
            nameof(StreamOptions.CsvRateHz) => "rate",
            nameof(StreamOptions.SamplePeriodSeconds) => "period",
            _ => string.Concat(p.Name.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(c) : c.ToString())),
        }, p => p.Name, StringComparer.Ordinal);

    /// <summary>Parses flags (<see cref="Args"/>), then layers JSON file, environment, flags; returns bound options plus whether --validate was given.</summary>
    public static (DaemonOptions Options, bool ValidateOnly) Load(string[] args, IDictionary<string, string?>? environment = null)
    {
        var flags = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        bool validate;
        string? configPath;
        try
        {
            var a = new Args(args, ["validate"]);
            if (a.Values.ContainsKey("mqtt-password") || a.Values.ContainsKey("password") || a.Values.ContainsKey("source-mqtt-password"))
                throw new ConfigException("--mqtt-password is not accepted: a password on the command line is visible to every user (ps); use --mqtt-password-file FILE or the EDGERNN_MQTT_PASSWORD environment variable");
            validate = a.GetSwitch("validate");
            configPath = a.Get("config");
            foreach (var (name, key) in FlagKeys)
            {
                if (a.Get(name) is not { } value) continue;
                if (name == "period") value = DaemonConfig.Invariant(Args.ParseDuration(value)!.Value.TotalSeconds);
                flags[key] = value;
            }
            a.RejectUnknown();
        }
        catch (UsageException e) { throw new ConfigException(e.Message); }

        var env = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var source = environment ?? ReadEnvironment();
        foreach (var kv in source)
        {
            if (!kv.Key.StartsWith("EDGERNN_", StringComparison.OrdinalIgnoreCase)) continue;
            string key = kv.Key["EDGERNN_".Length..];
            if (key.Equals("MQTT_PASSWORD", StringComparison.OrdinalIgnoreCase) || key.Equals("SOURCE_MQTT_PASSWORD", StringComparison.OrdinalIgnoreCase) || key.Equals("PYTHON", StringComparison.OrdinalIgnoreCase)) continue;
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
        if (configPath is not null) CheckKeys(Path.GetFullPath(configPath));
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

    /// <summary>Every key of the JSON file must be a setting: a typo ("Mqqt") is an error with the closest key, not ignored.</summary>
    private static void CheckKeys(string file)
    {
        IConfigurationRoot json;
        try { json = new ConfigurationBuilder().AddJsonFile(file, optional: false, reloadOnChange: false).Build(); }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException) { return; } // reported by the main build
        string[] top = typeof(DaemonOptions).GetProperties().Select(p => p.Name).ToArray();
        string[] perStream = typeof(StreamOptions).GetProperties().Select(p => p.Name).ToArray();
        var errors = new List<string>();
        void Check(string key, string where, string[] known)
        {
            if (known.Contains(key, StringComparer.OrdinalIgnoreCase)) return;
            string? near = Args.Suggest(key, known);
            errors.Add($"{file}: unknown key \"{where}{key}\"{(near is null ? "" : $" (did you mean \"{near}\"?)")}");
        }
        string[] online = typeof(OnlineSettings).GetProperties().Select(p => p.Name).ToArray();
        string[] conditioning = typeof(ConditionSettings).GetProperties().Select(p => p.Name).ToArray();
        void Section(IConfigurationSection c, string where)
        {
            if (c.Key.Equals(nameof(StreamOptions.Online), StringComparison.OrdinalIgnoreCase))
                foreach (var k in c.GetChildren()) Check(k.Key, $"{where}{c.Key}.", online);
            else if (c.Key.Equals(nameof(StreamOptions.Conditioning), StringComparison.OrdinalIgnoreCase))
                foreach (var k in c.GetChildren()) Check(k.Key, $"{where}{c.Key}.", conditioning);
        }
        foreach (var c in json.GetChildren())
        {
            Check(c.Key, "", top);
            Section(c, "");
            if (!c.Key.Equals(nameof(DaemonOptions.Streams), StringComparison.OrdinalIgnoreCase)) continue;
            foreach (var item in c.GetChildren())
                foreach (var k in item.GetChildren()) { Check(k.Key, $"Streams[{item.Key}].", perStream); Section(k, $"Streams[{item.Key}]."); }
        }
        if (errors.Count > 0) throw new ConfigException(string.Join(Environment.NewLine, errors));
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
        if (o.Streams.Count > 0 && (o.Name ?? o.Stream) is not null)
            errors.Add($"{(o.Name is null ? "Stream" : "Name")}: names the one stream; with a Streams list give each entry its Name");
        for (int i = 0; i < entries.Count; i++)
        {
            var s = entries[i].Over(o);
            string where = o.Streams.Count > 0 ? $"Streams[{i}]" : "";
            string Key(string k) => where.Length > 0 ? $"{where}.{k}" : k;
            string name = s.Name ?? (o.Streams.Count > 0 ? $"stream{i}" : o.Stream ?? o.Name ?? "sensor");
            if (streams.Any(x => x.Name == name)) errors.Add($"{Key("Name")}: stream name '{name}' is used twice");
            string? src = s.Source;
            if (string.IsNullOrWhiteSpace(src)) errors.Add($"{Key("Source")}: missing (e.g. serial:/dev/ttyUSB0@115200, csv:data.csv, stdin, mqtt:sensors/#)");
            string? model = s.Model;
            if (string.IsNullOrWhiteSpace(model)) errors.Add($"{Key("Model")}: missing (path to a .safetensors model)");
            else if (!File.Exists(model)) errors.Add($"{Key("Model")}: model file {Path.GetFullPath(model)} does not exist");
            var precision = EdgeRnn.Forecasting.Precision.Int8;
            if (s.Precision is { } p && !TryParsePrecision(p, out precision)) errors.Add($"{Key("Precision")}: '{p}' is not int8 or float32");
            bool fineTune = true;
            if (s.FineTune is { } ft && !TryParseOnOff(ft, out fineTune)) errors.Add($"{Key("FineTune")}: '{ft}' is not on or off");
            double? period = s.SamplePeriodSeconds;
            if (period is <= 0 or > 86400 * 366) errors.Add($"{Key("SamplePeriodSeconds")}: {period} must be positive");
            bool condition = true;
            if (s.Condition is { } cond && !TryParseOnOff(cond, out condition)) errors.Add($"{Key("Condition")}: '{cond}' is not on or off");
            double? rate = s.CsvRateHz;
            if (rate is <= 0) errors.Add($"{Key("CsvRateHz")}: {rate} must be positive");
            if (s.WarmStart is { } ws)
            {
                if (Sources.IsMqttWarmStart(ws))
                {
                    try { EdgeRnn.Ingest.SourceSpec.Parse(ws); }
                    catch (FormatException e) { errors.Add($"{Key("WarmStart")}: {e.Message}"); }
                }
                else if (!File.Exists(ws)) errors.Add($"{Key("WarmStart")}: file {Path.GetFullPath(ws)} does not exist (or give mqtt:TOPIC for a retained history topic)");
            }
            if (src is not null && !string.IsNullOrWhiteSpace(src))
            {
                try { EdgeRnn.Ingest.SourceSpec.Parse(src); }
                catch (FormatException e) { errors.Add($"{Key("Source")}: {e.Message}"); }
            }
            EdgeRnn.Forecasting.NetworkOnlyInfo? networkOnly = null;
            try { networkOnly = EdgeRnn.Forecasting.NetworkOnlyInfo.Parse(s.Targets, s.Features, Key("Targets"), Key("Features")); }
            catch (FormatException e) { errors.Add(e.Message); }
            streams.Add(new ResolvedStream(name, src ?? "", model ?? "", precision, fineTune, period is > 0 ? TimeSpan.FromSeconds(period.Value) : null, condition, rate,
                s.Id, s.IdColumn, s.Field, s.Unit, s.DeviceClass, s.WarmStart, networkOnly)
            {
                Online = s.Online.Resolve(Key("Online"), errors),
                Conditioning = s.Conditioning.Resolve(Key("Conditioning"), errors),
            });
        }

        MqttSettings? mqtt = null;
        string gateway = o.Gateway ?? SanitizeTopicLevel(Environment.MachineName);
        bool discovery = true;
        if (!TryParseOnOff(o.Discovery, out discovery)) errors.Add($"Discovery: '{o.Discovery}' is not on or off");
        errors.AddRange(TopicNames.Check(o.TopicPrefix, gateway, o.DiscoveryPrefix, discovery,
            streams.Select((s, i) => (o.Streams.Count > 0 ? $"Streams[{i}].Name" : "Stream", s.Name))));
        var env = environment ?? ReadEnvironmentAsDict();
        MqttSettings? Broker(string key, string url, string? username, string? passwordFile, string passwordVar, string clientId)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("mqtt" or "mqtts") || string.IsNullOrEmpty(uri.Host))
            { errors.Add($"{key}: '{url}' is not mqtt://host[:port] or mqtts://host[:port]"); return null; }
            if (!string.IsNullOrEmpty(uri.UserInfo))
            { errors.Add($"{key}: credentials in the URL are not accepted (they end up in logs and ps); use {key}Username and {key}PasswordFile or {passwordVar}"); return null; }
            bool tls = uri.Scheme == "mqtts";
            int port = uri.IsDefaultPort || uri.Port <= 0 ? (tls ? 8883 : 1883) : uri.Port;
            foreach (var (k, f) in new[] { ("MqttCa", o.MqttCa), ("MqttCert", o.MqttCert), ("MqttKey", o.MqttKey), ($"{key}PasswordFile", passwordFile) })
                if (f is not null && !File.Exists(f)) errors.Add($"{k}: file {Path.GetFullPath(f)} does not exist");
            if (!tls && key == "Mqtt" && (o.MqttCa ?? o.MqttCert ?? o.MqttKey) is not null) errors.Add("MqttCa/MqttCert/MqttKey need an mqtts:// URL");
            if ((o.MqttCert is null) != (o.MqttKey is null)) errors.Add("MqttCert and MqttKey go together (PEM certificate and its private key)");
            string? password = null;
            if (passwordFile is not null && File.Exists(passwordFile)) password = File.ReadAllText(passwordFile).TrimEnd('\r', '\n');
            else if (env.TryGetValue(passwordVar, out var pw)) password = pw;
            if (password is not null && username is null) errors.Add($"a MQTT password was given without {key}Username");
            return new MqttSettings(uri.Host, port, tls, tls ? o.MqttCa : null, tls ? o.MqttCert : null, tls ? o.MqttKey : null, username, password, clientId);
        }
        if (o.Mqtt is not null)
            mqtt = Broker("Mqtt", o.Mqtt, o.MqttUsername, o.MqttPasswordFile, "EDGERNN_MQTT_PASSWORD", o.MqttClientId ?? $"edgernn-{gateway}");
        MqttSettings? sourceMqtt = mqtt;
        if (o.SourceMqtt is not null)
            sourceMqtt = Broker("SourceMqtt", o.SourceMqtt, o.SourceMqttUsername, o.SourceMqttPasswordFile, "EDGERNN_SOURCE_MQTT_PASSWORD", $"edgernn-{gateway}-in");
        else if (o.SourceMqttUsername is not null || o.SourceMqttPasswordFile is not null)
            errors.Add("SourceMqttUsername/SourceMqttPasswordFile need SourceMqtt (without it, mqtt: sources use the Mqtt broker and its credentials)");

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

        bool anomaly = true;
        if (!TryParseOnOff(o.Anomaly, out anomaly)) errors.Add($"Anomaly: '{o.Anomaly}' is not on or off");
        if (!(o.AnomalyThreshold > 0 && o.AnomalyThreshold <= 1))
            errors.Add($"AnomalyThreshold: {Invariant(o.AnomalyThreshold)} is not in (0, 1] (scores are in [0, 1]; the default is {Invariant(StreamAnomaly.DefaultThreshold)})");
        if (o.AnomalySettings is { } aset)
        {
            try { StreamAnomaly.Options(null, aset); }
            catch (ArgumentException e) { errors.Add($"AnomalySettings: {e.Message}"); }
        }

        if (errors.Count > 0) throw new ConfigException(string.Join(Environment.NewLine, errors));
        return new DaemonSettings(streams, mqtt, o.TopicPrefix, gateway, o.DiscoveryPrefix, discovery,
            o.MessageExpirySeconds, o.SessionExpirySeconds, stateDir, o.OutboxMaxBytes, TimeSpan.FromSeconds(o.OutboxFsyncSeconds),
            TimeSpan.FromSeconds(o.CheckpointIntervalSeconds), TimeSpan.FromSeconds(o.DrainTimeoutSeconds), metrics, level)
        { SourceMqtt = sourceMqtt, Anomaly = anomaly ? new AnomalySettings(o.AnomalyThreshold, o.AnomalySettings) : null };
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

    public static bool TryParseOnOff(string s, out bool on) => Args.TryParseOnOff(s, out on);

    private static string SanitizeTopicLevel(string s)
    {
        var chars = s.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-').ToArray();
        return chars.Length == 0 ? "gateway" : new string(chars);
    }

    internal static string Invariant(double d) => d.ToString("R", CultureInfo.InvariantCulture);
}
