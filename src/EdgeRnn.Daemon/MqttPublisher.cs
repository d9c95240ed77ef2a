using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace EdgeRnn.Daemon;

/// <summary>
/// Home Assistant MQTT discovery config for one sensor (serialized by the source-generated context below). Keys follow
/// HA's MQTT sensor schema as of 2026: <c>default_entity_id</c> (the deprecated <c>object_id</c> was removed in 2026.4),
/// an <c>origin</c> block, <c>expire_after</c>, and unit/device class when known.
/// </summary>
public sealed class HaSensorConfig
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("unique_id")] public string UniqueId { get; set; } = "";
    [JsonPropertyName("default_entity_id")] public string DefaultEntityId { get; set; } = "";
    [JsonPropertyName("state_topic")] public string StateTopic { get; set; } = "";
    [JsonPropertyName("value_template")] public string ValueTemplate { get; set; } = "";
    [JsonPropertyName("json_attributes_topic")] public string JsonAttributesTopic { get; set; } = "";
    [JsonPropertyName("json_attributes_template")] public string JsonAttributesTemplate { get; set; } = "";
    [JsonPropertyName("availability_topic")] public string AvailabilityTopic { get; set; } = "";
    [JsonPropertyName("payload_available")] public string PayloadAvailable { get; set; } = "online";
    [JsonPropertyName("payload_not_available")] public string PayloadNotAvailable { get; set; } = "offline";
    [JsonPropertyName("state_class")] public string StateClass { get; set; } = "measurement";
    [JsonPropertyName("unit_of_measurement")] public string? UnitOfMeasurement { get; set; }
    [JsonPropertyName("device_class")] public string? DeviceClass { get; set; }
    /// <summary>Seconds without a forecast after which HA shows the sensor unavailable.</summary>
    [JsonPropertyName("expire_after")] public int? ExpireAfter { get; set; }
    [JsonPropertyName("device")] public HaDevice Device { get; set; } = new();
    [JsonPropertyName("origin")] public HaOrigin Origin { get; set; } = new();
}

public sealed class HaDevice
{
    [JsonPropertyName("identifiers")] public string[] Identifiers { get; set; } = [];
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("manufacturer")] public string Manufacturer { get; set; } = "EdgeRnn";
    [JsonPropertyName("model")] public string Model { get; set; } = "edgernn";
    [JsonPropertyName("sw_version")] public string SwVersion { get; set; } = "";
}

/// <summary>Which software published the discovery message (HA logs it).</summary>
public sealed class HaOrigin
{
    [JsonPropertyName("name")] public string Name { get; set; } = "EdgeRnn";
    [JsonPropertyName("sw_version")] public string SwVersion { get; set; } = "";
    [JsonPropertyName("support_url")] public string SupportUrl { get; set; } = "https://github.com/edgernn/edgernn";
}

/// <summary>
/// Home Assistant discovery config for an MQTT binary_sensor (the anomaly alert): the sensor's keys without state_class
/// and unit, plus payload_on/payload_off.
/// </summary>
public sealed class HaBinarySensorConfig
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("unique_id")] public string UniqueId { get; set; } = "";
    [JsonPropertyName("default_entity_id")] public string DefaultEntityId { get; set; } = "";
    [JsonPropertyName("state_topic")] public string StateTopic { get; set; } = "";
    [JsonPropertyName("value_template")] public string ValueTemplate { get; set; } = "";
    [JsonPropertyName("payload_on")] public string PayloadOn { get; set; } = "ON";
    [JsonPropertyName("payload_off")] public string PayloadOff { get; set; } = "OFF";
    [JsonPropertyName("json_attributes_topic")] public string JsonAttributesTopic { get; set; } = "";
    [JsonPropertyName("json_attributes_template")] public string JsonAttributesTemplate { get; set; } = "";
    [JsonPropertyName("availability_topic")] public string AvailabilityTopic { get; set; } = "";
    [JsonPropertyName("payload_available")] public string PayloadAvailable { get; set; } = "online";
    [JsonPropertyName("payload_not_available")] public string PayloadNotAvailable { get; set; } = "offline";
    [JsonPropertyName("device_class")] public string? DeviceClass { get; set; }
    [JsonPropertyName("expire_after")] public int? ExpireAfter { get; set; }
    [JsonPropertyName("device")] public HaDevice Device { get; set; } = new();
    [JsonPropertyName("origin")] public HaOrigin Origin { get; set; } = new();
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(HaSensorConfig))]
[JsonSerializable(typeof(HaBinarySensorConfig))]
public sealed partial class DaemonJsonContext : JsonSerializerContext;

/// <summary>A stream as announced to Home Assistant: its period (for expire_after), unit and device class when known.</summary>
public sealed record DiscoveryStream(string Name, string ForecastTopic, IReadOnlyList<string> Targets, string ModelName, string ModelVersion,
    TimeSpan? SamplePeriod = null, string? Unit = null, string? DeviceClass = null)
{
    /// <summary>
    /// Per target, the unit the device announced in its hello frame (firmware-bridge), used when the configuration sets no
    /// Unit; null entries or a null list: none announced.
    /// </summary>
    public IReadOnlyList<string?>? TargetUnits { get; init; }
    /// <summary>The stream's anomaly topic (null: no anomaly score): announced as a score sensor and a problem binary_sensor.</summary>
    public string? AnomalyTopic { get; init; }
}

/// <summary>Home Assistant discovery messages: topic and config per sensor, two per target (next step, horizon end).</summary>
public static class HaDiscovery
{
    /// <summary>
    /// A unit as a device spells it ("degC", "C", "%RH") → Home Assistant's spelling and the sensor device class HA accepts
    /// with it; units not listed pass through unchanged with no device class (an ambiguous unit such as % or ppm could be
    /// several classes, and a wrong one makes HA reject the entity).
    /// </summary>
    public static (string? Unit, string? DeviceClass) Unit(string? unit)
    {
        if (string.IsNullOrWhiteSpace(unit)) return (null, null);
        string u = unit.Trim();
        return u switch
        {
            "°C" or "degC" or "C" or "celsius" or "Celsius" => ("°C", "temperature"),
            "°F" or "degF" or "F" or "fahrenheit" or "Fahrenheit" => ("°F", "temperature"),
            "K" => ("K", "temperature"),
            "%RH" or "%rh" or "RH" => ("%", "humidity"),
            "Pa" or "hPa" or "kPa" or "bar" or "mbar" or "psi" or "inHg" or "mmHg" => (u, "pressure"),
            "V" or "mV" => (u, "voltage"),
            "A" or "mA" => (u, "current"),
            "W" or "kW" => (u, "power"),
            "Wh" or "kWh" => (u, "energy"),
            "Hz" or "kHz" => (u, "frequency"),
            "lx" => (u, "illuminance"),
            _ => (u, null),
        };
    }

    /// <summary>HA ids (unique_id, object ids, discovery topic node ids) allow [a-zA-Z0-9_-] only; anything else becomes '_'.</summary>
    public static string Id(string s)
    {
        var chars = s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_').ToArray();
        string id = new string(chars).Trim('_');
        while (id.Contains("__", StringComparison.Ordinal)) id = id.Replace("__", "_", StringComparison.Ordinal);
        return id.Length == 0 ? "x" : id;
    }

    private static string Version => typeof(HaDiscovery).Assembly.GetName().Version?.ToString(3) ?? "0";

    /// <summary>Three missed periods (at least a minute) and HA marks the entity stale.</summary>
    private static int? ExpireAfter(DiscoveryStream s) => s.SamplePeriod is { } p && p > TimeSpan.Zero ? (int)Math.Max(60, Math.Ceiling(3 * p.TotalSeconds)) : null;

    private static HaDevice Device(string gateway, DiscoveryStream s) =>
        new() { Identifiers = [Id($"edgernn_{gateway}")], Name = $"EdgeRnn {gateway}", Model = $"{s.ModelName} {s.ModelVersion}", SwVersion = Version };

    /// <summary>The object id of a stream's anomaly entities: edgernn_&lt;gateway&gt;_&lt;stream&gt;_anomaly (a target's ids end in _next/_horizon, so never this).</summary>
    public static string AnomalyId(string gateway, string stream) => TopicNames.DiscoveryObjectId(gateway, stream, "anomaly");

    /// <summary>Per stream with an anomaly topic: a binary_sensor of device class problem, on while "anomaly" is true.</summary>
    public static IEnumerable<(string Topic, HaBinarySensorConfig Config)> BuildBinary(string discoveryPrefix, string gateway, string statusTopic,
        IReadOnlyList<DiscoveryStream> streams)
    {
        foreach (var s in streams)
        {
            if (s.AnomalyTopic is null) continue;
            string id = AnomalyId(gateway, s.Name);
            yield return ($"{discoveryPrefix}/binary_sensor/{id}/config", new HaBinarySensorConfig
            {
                Name = $"{s.Name} anomaly",
                UniqueId = id,
                DefaultEntityId = "binary_sensor." + id.ToLowerInvariant(),
                StateTopic = s.AnomalyTopic,
                ValueTemplate = "{{ 'ON' if value_json.anomaly else 'OFF' }}",
                JsonAttributesTopic = s.AnomalyTopic,
                JsonAttributesTemplate = "{{ {'score': value_json.score, 'threshold': value_json.threshold, 'seq': value_json.seq} | tojson }}",
                AvailabilityTopic = statusTopic,
                DeviceClass = "problem",
                ExpireAfter = ExpireAfter(s),
                Device = Device(gateway, s),
                Origin = new HaOrigin { SwVersion = Version },
            });
        }
    }

    public static IEnumerable<(string Topic, HaSensorConfig Config)> Build(string discoveryPrefix, string gateway, string statusTopic,
        IReadOnlyList<DiscoveryStream> streams)
    {
        string version = Version;
        foreach (var s in streams)
        {
            int? expire = ExpireAfter(s);
            if (s.AnomalyTopic is not null)
            {
                string aid = AnomalyId(gateway, s.Name) + "_score";
                yield return ($"{discoveryPrefix}/sensor/{aid}/config", new HaSensorConfig
                {
                    Name = $"{s.Name} anomaly score",
                    UniqueId = aid,
                    DefaultEntityId = "sensor." + aid.ToLowerInvariant(),
                    StateTopic = s.AnomalyTopic,
                    ValueTemplate = "{{ value_json.score }}",
                    JsonAttributesTopic = s.AnomalyTopic,
                    JsonAttributesTemplate = "{{ {'anomaly': value_json.anomaly, 'threshold': value_json.threshold, 'seq': value_json.seq} | tojson }}",
                    AvailabilityTopic = statusTopic,
                    ExpireAfter = expire,
                    Device = Device(gateway, s),
                    Origin = new HaOrigin { SwVersion = version },
                });
            }
            for (int t = 0; t < s.Targets.Count; t++)
            {
                // configuration first; else what the device announced for this target, in HA's spelling with its device class
                var (unit, deviceClass) = s.Unit is not null ? (s.Unit, s.DeviceClass)
                    : s.TargetUnits is { } tu && t < tu.Count && tu[t] is { } announced ? Unit(announced) : (null, null);
                deviceClass = s.DeviceClass ?? deviceClass;
                foreach (var (suffix, index, label) in new[] { ("next", "0", "next step"), ("horizon", "-1", "horizon end") })
                {
                    string id = TopicNames.DiscoveryObjectId(gateway, s.Name, s.Targets[t]) + "_" + suffix;
                    string v = $"value_json['values'][{index}][{t}]";
                    yield return ($"{discoveryPrefix}/sensor/{id}/config", new HaSensorConfig
                    {
                        Name = $"{s.Name} {s.Targets[t]} forecast ({label})",
                        UniqueId = id,
                        DefaultEntityId = "sensor." + id.ToLowerInvariant(), // entity ids are lower case
                        StateTopic = s.ForecastTopic,
                        // a null forecast (model warming up, missing input) leaves the state as it was rather than "None"
                        ValueTemplate = $"{{{{ {v} if {v} is not none else this.state }}}}",
                        JsonAttributesTopic = s.ForecastTopic,
                        JsonAttributesTemplate = $"{{{{ {{'horizon_ts': value_json.horizon_ts, 'forecast': value_json['values'] | map(attribute={t}) | list, 'lower': (value_json.lower | map(attribute={t}) | list) if value_json.lower is defined else none, 'upper': (value_json.upper | map(attribute={t}) | list) if value_json.upper is defined else none, 'seq': value_json.seq, 'model': value_json.model}} | tojson }}}}",
                        AvailabilityTopic = statusTopic,
                        UnitOfMeasurement = unit,
                        DeviceClass = deviceClass,
                        ExpireAfter = expire,
                        Device = Device(gateway, s),
                        Origin = new HaOrigin { SwVersion = version },
                    });
                }
            }
        }
    }
}

/// <summary>
/// Owns the MQTT connection (MQTTnet 5 has no managed client): connect with a persistent session (CleanStart false,
/// session expiry), retained birth "online" and last-will "offline" on &lt;prefix&gt;/&lt;gateway&gt;/status, Home Assistant
/// discovery (retained, re-sent whenever homeassistant/status goes online), then publish the outbox in order at QoS 1,
/// removing each message only after its PUBACK. Any failure: disconnect, back off (0.5 s doubling to 10 s, jittered), retry.
/// </summary>
public sealed class MqttPublisher
{
    private readonly MqttSettings _mqtt;
    private readonly DaemonSettings _settings;
    private readonly Outbox _outbox;
    private readonly DaemonMetrics _metrics;
    private readonly Func<IReadOnlyList<DiscoveryStream>> _streams;
    private readonly ILogger _log;
    private readonly string _statusTopic;
    private readonly IMqttClient _client;
    private int _discoveryDue;

    /// <param name="streams">what to announce, asked again on every (re)send: a device's hello frame may add units later</param>
    public MqttPublisher(DaemonSettings settings, MqttSettings mqtt, Outbox outbox, DaemonMetrics metrics, Func<IReadOnlyList<DiscoveryStream>> streams, ILogger log)
    {
        _settings = settings;
        _mqtt = mqtt;
        _outbox = outbox;
        _metrics = metrics;
        _streams = streams;
        _log = log;
        _statusTopic = $"{settings.TopicPrefix}/{settings.Gateway}/status";
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Topic == $"{_settings.DiscoveryPrefix}/status" && e.ApplicationMessage.ConvertPayloadToString() == "online")
            {
                Volatile.Write(ref _discoveryDue, 1);
                _log.LogInformation("Home Assistant came online: re-sending discovery");
            }
            return Task.CompletedTask;
        };
    }

    public bool IsConnected => _client.IsConnected;

    /// <summary>Re-sends discovery at the next chance (e.g. a device announced its units).</summary>
    public void RequestDiscovery() => Volatile.Write(ref _discoveryDue, 1);

    private MqttClientOptions BuildOptions()
    {
        var b = new MqttClientOptionsBuilder()
            .WithTcpServer(_mqtt.Host, _mqtt.Port)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId(_mqtt.ClientId)
            .WithCleanStart(false)
            .WithSessionExpiryInterval(_settings.SessionExpirySeconds)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(15))
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithWillTopic(_statusTopic)
            .WithWillPayload("offline")
            .WithWillRetain(true)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithWillContentType("text/plain");
        if (_mqtt.Username is not null) b.WithCredentials(_mqtt.Username, _mqtt.Password ?? "");
        if (_mqtt.Tls)
        {
            b.WithTlsOptions(t =>
            {
                t.UseTls(true).WithTargetHost(_mqtt.Host);
                if (_mqtt.CaFile is not null)
                {
                    var trust = new X509Certificate2Collection();
                    trust.ImportFromPemFile(_mqtt.CaFile);
                    t.WithTrustChain(trust);
                }
                if (_mqtt.CertFile is not null && _mqtt.KeyFile is not null)
                    t.WithClientCertificates([X509Certificate2.CreateFromPemFile(_mqtt.CertFile, _mqtt.KeyFile)]);
            });
        }
        return b.Build();
    }

    /// <summary>Runs until cancelled; then announces "offline" and disconnects cleanly if connected.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.FromMilliseconds(500);
        var options = BuildOptions();
        bool warnedOnce = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (!_client.IsConnected)
                {
                    var r = await _client.ConnectAsync(options, ct);
                    if (r.ResultCode != MqttClientConnectResultCode.Success)
                        throw new IOException($"broker refused the connection: {r.ResultCode} {r.ReasonString}");
                    Interlocked.Increment(ref _metrics.Reconnects);
                    Volatile.Write(ref _metrics.Connected, 1);
                    _log.LogInformation("connected to mqtt{Tls}://{Host}:{Port} as {Client} (session present: {Session}); {Depth} forecast(s) waiting",
                        _mqtt.Tls ? "s" : "", _mqtt.Host, _mqtt.Port, _mqtt.ClientId, r.IsSessionPresent, _outbox.Depth);
                    backoff = TimeSpan.FromMilliseconds(500);
                    warnedOnce = false;
                    await PublishStatusAsync("online", ct);
                    if (_settings.Discovery)
                    {
                        await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                            .WithTopicFilter($"{_settings.DiscoveryPrefix}/status", MqttQualityOfServiceLevel.AtLeastOnce).Build(), ct);
                        Volatile.Write(ref _discoveryDue, 1);
                    }
                }
                await PumpAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { break; }
            catch (Exception e)
            {
                Interlocked.Increment(ref _metrics.PublishFailures);
                Volatile.Write(ref _metrics.Connected, 0);
                if (!warnedOnce) _log.LogWarning("mqtt{Tls}://{Host}:{Port}: {Error}; retrying with backoff, {Depth} forecast(s) kept in the outbox",
                    _mqtt.Tls ? "s" : "", _mqtt.Host, _mqtt.Port, Describe(e), _outbox.Depth);
                else _log.LogDebug("mqtt retry failed: {Error}", Describe(e));
                warnedOnce = true;
                try { if (_client.IsConnected) await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None); } catch (Exception) { }
                var delay = backoff * (0.75 + 0.5 * Random.Shared.NextDouble());
                try { await Task.Delay(delay, ct); } catch (OperationCanceledException) { break; }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
        Volatile.Write(ref _metrics.Connected, 0);
        if (_client.IsConnected)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                // a clean disconnect suppresses the will: say offline ourselves
                await PublishStatusAsync("offline", cts.Token);
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), cts.Token);
            }
            catch (Exception e) { _log.LogDebug("mqtt disconnect: {Error}", e.Message); }
        }
        _client.Dispose();
    }

    private static string Describe(Exception e) => e.InnerException is { } i ? $"{e.Message} ({i.Message})" : e.Message;

    private async Task PumpAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            if (Interlocked.Exchange(ref _discoveryDue, 0) == 1) await PublishDiscoveryAsync(ct);
            if (!_client.IsConnected) throw new IOException("connection lost");
            var m = _outbox.Peek();
            if (m is null)
            {
                // wake for new data, a lost connection (checked on the next pass) or a discovery request
                try { await _outbox.WaitAsync(ct).WaitAsync(TimeSpan.FromSeconds(1), ct); }
                catch (TimeoutException) { }
                continue;
            }
            var msg = new MqttApplicationMessageBuilder()
                .WithTopic(m.Topic)
                .WithPayload(m.Payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .WithContentType("application/json")
                .WithPayloadFormatIndicator(MqttPayloadFormatIndicator.CharacterData)
                .WithMessageExpiryInterval(m.ExpirySeconds)
                .Build();
            var r = await _client.PublishAsync(msg, ct);
            if (r.ReasonCode is MqttClientPublishReasonCode.Success or MqttClientPublishReasonCode.NoMatchingSubscribers)
            {
                _outbox.Ack(m);
                Interlocked.Increment(ref _metrics.Published);
            }
            else throw new IOException($"broker rejected {m.Topic} seq {m.Seq}: {r.ReasonCode} {r.ReasonString}");
        }
    }

    private async Task PublishStatusAsync(string status, CancellationToken ct)
    {
        await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(_statusTopic).WithPayload(status)
            .WithRetainFlag(true).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithContentType("text/plain").Build(), ct);
    }

    private async Task PublishDiscoveryAsync(CancellationToken ct)
    {
        if (!_settings.Discovery) return;
        var streams = _streams();
        foreach (var (topic, cfg) in HaDiscovery.Build(_settings.DiscoveryPrefix, _settings.Gateway, _statusTopic, streams))
            await PublishConfigAsync(topic, JsonSerializer.SerializeToUtf8Bytes(cfg, DaemonJsonContext.Default.HaSensorConfig), ct);
        foreach (var (topic, cfg) in HaDiscovery.BuildBinary(_settings.DiscoveryPrefix, _settings.Gateway, _statusTopic, streams))
            await PublishConfigAsync(topic, JsonSerializer.SerializeToUtf8Bytes(cfg, DaemonJsonContext.Default.HaBinarySensorConfig), ct);
    }

    private async Task PublishConfigAsync(string topic, byte[] payload, CancellationToken ct) =>
        await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic).WithPayload(payload).WithRetainFlag(true)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithContentType("application/json").Build(), ct);
}
