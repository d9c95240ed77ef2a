using System.Buffers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using MQTTnet;

namespace EdgeRnn.Ingest;

public sealed record MqttSourceOptions(string Host, int Port = 1883)
{
    /// <summary>Channel names in order (e.g. the model's inputs); null learns them from the first message's numeric fields.</summary>
    public IReadOnlyList<string>? Fields { get; init; }
    public string? ClientId { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    /// <summary>TLS (mqtts): verify the broker against <see cref="CaFile"/> (PEM; system store when null), optional client certificate.</summary>
    public bool Tls { get; init; }
    public string? CaFile { get; init; }
    public string? CertFile { get; init; }
    public string? KeyFile { get; init; }
    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(10);
    public Action<string>? Log { get; init; }
    /// <summary>
    /// Where each channel's value is in a JSON payload, one dotted path per channel ("temperature", "sensor.temp"); null:
    /// the field named like the channel.
    /// </summary>
    public IReadOnlyList<string>? FieldPaths { get; init; }
    /// <summary>Larger payloads are counted (<c>oversize_payloads</c>) and dropped; the broker is asked not to send them at all.</summary>
    public int MaxPayloadBytes { get; init; } = 64 * 1024;
}

/// <summary>
/// An MQTT subscription (MQTTnet 5; wildcards allowed); each concrete topic is its own stream. Payloads, any of:
/// <list type="bullet">
/// <item>a plain number, <c>61.5</c> (one-channel streams; <c>unavailable</c>, <c>unknown</c> and empty are a missing value);</item>
/// <item>a JSON object with fields named like the channels, <c>{"ts": 1700000000123, "temp": 21.5, "hum": 40}</c>, or at
/// configured dotted paths (<see cref="MqttSourceOptions.FieldPaths"/>, e.g. <c>sensor.temp</c>); values may be numbers,
/// numeric strings or null;</item>
/// <item>a Home Assistant state object, <c>{"entity_id": "sensor.t", "state": "21.5", "last_changed": "..."}</c>
/// (one-channel streams: "state" is the value);</item>
/// <item>a history: a JSON array of rows <c>[[ts, v1, ..., vn], ...]</c>, each row one sample (e.g. a retained history
/// topic that `run --warm-start mqtt:TOPIC` reads).</item>
/// </list>
/// A "ts", "timestamp", "time", "last_changed" or "last_updated" field (epoch s/ms or ISO 8601) is the sample time, else the
/// arrival time. A missing field is NaN. Payloads that fit none of these, or exceed the size limit, are counted, reported
/// (the first ones and then every 1000th) and dropped. Reconnects with backoff. The JSON is read with Utf8JsonReader
/// (no reflection, AOT-safe) into a preallocated buffer.
/// </summary>
public sealed class MqttSource : ISampleSource
{
    private static readonly byte[][] TimeFields = ["ts"u8.ToArray(), "timestamp"u8.ToArray(), "time"u8.ToArray(), "last_changed"u8.ToArray(), "last_updated"u8.ToArray()];
    private static readonly byte[] StateField = "state"u8.ToArray();
    private readonly byte[][][]? _paths;
    private readonly string _topic;
    private readonly MqttSourceOptions _o;
    private byte[][]? _fieldUtf8;
    private string[] _channels;
    private float[] _values = [];
    private long _messages, _samples, _badPayloads, _oversize, _reconnects, _connectFailures;

    public MqttSource(string topicFilter, MqttSourceOptions options)
    {
        _topic = topicFilter;
        _o = options;
        _channels = options.Fields?.ToArray() ?? [];
        if (options.Fields is not null) SetFields(_channels);
        if (options.FieldPaths is { } paths)
        {
            if (options.Fields is not null && paths.Count != options.Fields.Count)
                throw new ArgumentException($"mqtt:{topicFilter}: {paths.Count} field path(s) for {options.Fields.Count} channel(s) ({string.Join(", ", options.Fields)}); give one per channel, comma-separated");
            _paths = paths.Select(p => p.Split('.').Select(seg => Encoding.UTF8.GetBytes(seg)).ToArray()).ToArray();
            if (options.Fields is null) SetFields(paths.ToArray());
        }
    }

    public string Description => $"mqtt:{_topic}@{(_o.Tls ? "mqtts://" : "")}{_o.Host}:{_o.Port}";
    public IReadOnlyList<string> Channels => _channels;
    public bool Subscribed { get; private set; }
    public IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["messages"] = Interlocked.Read(ref _messages),
        ["samples"] = Interlocked.Read(ref _samples),
        ["bad_payloads"] = Interlocked.Read(ref _badPayloads),
        ["oversize_payloads"] = Interlocked.Read(ref _oversize),
        ["reconnects"] = Interlocked.Read(ref _reconnects),
        ["connect_failures"] = Interlocked.Read(ref _connectFailures),
    };

    private void SetFields(string[] names)
    {
        _fieldUtf8 = names.Select(n => Encoding.UTF8.GetBytes(n)).ToArray();
        _values = new float[names.Length];
        _channels = names;
    }

    public async Task RunAsync(ISampleSink sink, CancellationToken cancellationToken)
    {
        var factory = new MqttClientFactory();
        using var client = factory.CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e =>
        {
            Interlocked.Increment(ref _messages);
            Handle(e.ApplicationMessage.Topic, e.ApplicationMessage.Payload, sink);
            return Task.CompletedTask;
        };
        TimeSpan delay = _o.ReconnectMin;
        bool everConnected = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Func<MqttClientDisconnectedEventArgs, Task> onDisconnect = _ => { lost.TrySetResult(); return Task.CompletedTask; };
            client.DisconnectedAsync += onDisconnect;
            try
            {
                var b = new MqttClientOptionsBuilder().WithTcpServer(_o.Host, _o.Port).WithCleanStart()
                    .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
                    .WithMaximumPacketSize((uint)_o.MaxPayloadBytes + 65_536u) // MQTT 5: the broker keeps larger messages to itself
                    .WithClientId(_o.ClientId ?? $"edgernn-ingest-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
                if (_o.Username is not null) b = b.WithCredentials(_o.Username, _o.Password ?? "");
                if (_o.Tls)
                {
                    b = b.WithTlsOptions(t =>
                    {
                        t.UseTls(true).WithTargetHost(_o.Host);
                        if (_o.CaFile is not null)
                        {
                            var trust = new X509Certificate2Collection();
                            trust.ImportFromPemFile(_o.CaFile);
                            t.WithTrustChain(trust);
                        }
                        if (_o.CertFile is not null && _o.KeyFile is not null)
                            t.WithClientCertificates([X509Certificate2.CreateFromPemFile(_o.CertFile, _o.KeyFile)]);
                    });
                }
                await client.ConnectAsync(b.Build(), cancellationToken).ConfigureAwait(false);
                await client.SubscribeAsync(factory.CreateSubscribeOptionsBuilder().WithTopicFilter(_topic).Build(), cancellationToken).ConfigureAwait(false);
                if (everConnected) Interlocked.Increment(ref _reconnects);
                everConnected = true;
                Subscribed = true;
                delay = _o.ReconnectMin;
                _o.Log?.Invoke($"{Description}: subscribed");
                await lost.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                _o.Log?.Invoke($"{Description}: connection lost, reconnecting");
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
            catch (Exception e)
            {
                Interlocked.Increment(ref _connectFailures);
                _o.Log?.Invoke($"{Description}: cannot connect to the MQTT broker at {_o.Host}:{_o.Port}: {e.Message} (retrying)");
            }
            finally
            {
                Subscribed = false;
                client.DisconnectedAsync -= onDisconnect;
            }
            if (cancellationToken.IsCancellationRequested) break;
            try { await Task.Delay(delay, cancellationToken).ConfigureAwait(false); } catch (OperationCanceledException) { break; }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _o.ReconnectMax.Ticks));
        }
        if (client.IsConnected)
        {
            try { await client.DisconnectAsync().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false); }
            catch (Exception) { /* closing anyway */ }
        }
    }

    /// <summary>Parses one message and hands the sample to the sink; public for tests and other transports.</summary>
    public void Handle(string topic, ReadOnlySequence<byte> payload, ISampleSink sink)
    {
        if (payload.Length > _o.MaxPayloadBytes)
        {
            long n = Interlocked.Increment(ref _oversize);
            Report(n, $"{topic}: payload of {payload.Length} bytes is over the {_o.MaxPayloadBytes}-byte limit (dropped)");
            return;
        }
        string? why;
        try
        {
            if (FirstByte(payload) == (byte)'[')
            {
                why = HandleRows(topic, payload, sink);
                if (why is null) return;
                long n = Interlocked.Increment(ref _badPayloads);
                Report(n, $"{topic}: history payload stopped: {why}");
                return;
            }
            long ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            if (TryParse(payload, ref ts, out why))
            {
                Interlocked.Increment(ref _samples);
                sink.OnSample(topic, ts, _values);
                return;
            }
        }
        catch (JsonException e) { why = "not JSON: " + e.Message; }
        long bad = Interlocked.Increment(ref _badPayloads);
        Report(bad, $"{topic}: payload dropped: {why}");
    }

    /// <summary>
    /// A history payload: a JSON array of rows [ts, v1, ..., vn] (ts epoch s/ms or ISO 8601; values in channel order, numbers,
    /// numeric strings or null), each handed to the sink as one sample. Null when every row was good, else why the first bad
    /// one is not (rows before it were delivered).
    /// </summary>
    private string? HandleRows(string topic, ReadOnlySequence<byte> payload, ISampleSink sink)
    {
        if (_fieldUtf8 is null) SetFields(["value"]);
        var r = new Utf8JsonReader(payload);
        r.Read(); // [
        for (int row = 0; r.Read() && r.TokenType != JsonTokenType.EndArray; row++)
        {
            if (r.TokenType != JsonTokenType.StartArray) return $"element {row} is not a [ts, value...] row";
            r.Read();
            long ts = long.MinValue;
            if (r.TokenType is JsonTokenType.Number or JsonTokenType.String) ReadTime(ref r, ref ts);
            if (ts == long.MinValue) return $"row {row}: the first element is not a time (epoch s/ms or ISO 8601)";
            Array.Fill(_values, float.NaN);
            int i = 0;
            for (; r.Read() && r.TokenType != JsonTokenType.EndArray; i++)
                if (i >= _values.Length || !TryValue(ref r, out _values[i])) return $"row {row}: {(i >= _values.Length ? $"more than {_values.Length} value(s) ({string.Join(", ", _channels)})" : $"value {i + 1} is not a number")}";
            if (i != _values.Length) return $"row {row}: {i} value(s) for the {_values.Length} channel(s) {string.Join(", ", _channels)}";
            Interlocked.Increment(ref _samples);
            sink.OnSample(topic, ts, _values);
        }
        return null;
    }

    private void Report(long count, string message)
    {
        if (count <= 10 || count % 1000 == 0) _o.Log?.Invoke(count <= 10 ? message : $"{message} ({count} so far)");
    }

    private bool TryParse(ReadOnlySequence<byte> payload, ref long ts, out string? why)
    {
        why = null;
        var first = FirstByte(payload);
        if (first != (byte)'{')
        {
            // A plain value: 61.5, "61.5", unavailable
            if (first == (byte)'[') { why = "a JSON array (expected a number or an object)"; return false; }
            if (!TryPlain(payload, out float v)) { why = "neither a number nor a JSON object"; return false; }
            if (_fieldUtf8 is null) SetFields(["value"]);
            if (_values.Length != 1) { why = $"a plain number, but the stream has {_values.Length} channels ({string.Join(", ", _channels)}): publish a JSON object"; return false; }
            _values[0] = v;
            return true;
        }
        if (_fieldUtf8 is null && !Learn(payload)) { why = "no numeric field to learn the channels from"; return false; }
        Array.Fill(_values, float.NaN);
        int found = _paths is null ? ReadNamed(payload, ref ts, out bool hasState) : ReadPaths(payload, ref ts, out hasState);
        if (found == 0 && hasState && _values.Length == 1) found = ReadState(payload);
        if (found == 0)
        {
            why = _paths is null ? $"none of the fields {string.Join(", ", _channels)}" : $"nothing at {string.Join(", ", _o.FieldPaths!)}";
            return false;
        }
        return true;
    }

    private static byte FirstByte(ReadOnlySequence<byte> payload)
    {
        foreach (var seg in payload)
            foreach (byte b in seg.Span)
                if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')) return b;
        return 0;
    }

    private static bool TryPlain(ReadOnlySequence<byte> payload, out float v)
    {
        v = float.NaN;
        if (payload.Length > 64) return false;
        Span<byte> buf = stackalloc byte[64];
        payload.CopyTo(buf);
        var s = buf[..(int)payload.Length].Trim(" \t\r\n\""u8);
        if (s.Length == 0) return true;
        if (System.Buffers.Text.Utf8Parser.TryParse(s, out double d, out int used) && used == s.Length) { v = (float)d; return true; }
        Span<char> chars = stackalloc char[64];
        int n = Encoding.UTF8.GetChars(s, chars);
        return CsvRecords.IsMissing(chars[..n]);
    }

    /// <summary>A value token: a number, a numeric string, a missing-value string or null (NaN). False for anything else.</summary>
    private static bool TryValue(ref Utf8JsonReader r, out float v)
    {
        v = float.NaN;
        switch (r.TokenType)
        {
            case JsonTokenType.Number: v = r.TryGetDouble(out double d) ? (float)d : float.NaN; return true;
            case JsonTokenType.Null: return true;
            case JsonTokenType.String:
                Span<char> chars = stackalloc char[64];
                if (r.ValueSpan.Length > 64 || r.ValueIsEscaped) return false;
                int n = Encoding.UTF8.GetChars(r.ValueSpan, chars);
                if (double.TryParse(chars[..n], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double x)) { v = (float)x; return true; }
                return CsvRecords.IsMissing(chars[..n]);
            default: return false;
        }
    }

    private static void ReadTime(ref Utf8JsonReader r, ref long ts)
    {
        if (r.TokenType == JsonTokenType.Number && r.TryGetDouble(out double t) && double.IsFinite(t) && Math.Abs(t) < 1e15)
            ts = (long)Math.Round(Math.Abs(t) < 1e11 ? t * 1000 : t);
        else if (r.TokenType == JsonTokenType.String && r.TryGetDateTimeOffset(out var dto))
            ts = dto.ToUnixTimeMilliseconds();
    }

    /// <summary>Top-level fields named like the channels.</summary>
    private int ReadNamed(ReadOnlySequence<byte> payload, ref long ts, out bool hasState)
    {
        var fields = _fieldUtf8!;
        int found = 0;
        hasState = false;
        var r = new Utf8JsonReader(payload);
        r.Read();
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            int idx = -1;
            for (int i = 0; i < fields.Length; i++) if (r.ValueTextEquals(fields[i])) { idx = i; break; }
            bool isTime = idx < 0 && IsTimeField(ref r);
            if (idx < 0 && r.ValueTextEquals(StateField)) hasState = true;
            r.Read();
            if (idx >= 0) { if (TryValue(ref r, out float v)) { _values[idx] = v; found++; } }
            else if (isTime) ReadTime(ref r, ref ts);
            r.TrySkip();
        }
        return found;
    }

    /// <summary>Values at configured dotted paths (one scan per path), time from the top level.</summary>
    private int ReadPaths(ReadOnlySequence<byte> payload, ref long ts, out bool hasState)
    {
        int found = 0;
        for (int i = 0; i < _paths!.Length; i++)
        {
            var r = new Utf8JsonReader(payload);
            r.Read();
            if (FindPath(ref r, _paths[i]) && TryValue(ref r, out float v)) { _values[i] = v; found++; }
        }
        var t = new Utf8JsonReader(payload);
        t.Read();
        hasState = false;
        while (t.Read() && t.TokenType == JsonTokenType.PropertyName)
        {
            bool isTime = IsTimeField(ref t);
            t.Read();
            if (isTime) ReadTime(ref t, ref ts);
            t.TrySkip();
        }
        return found;
    }

    /// <summary>Moves a reader positioned on a StartObject to the value at the path; false when the path is absent.</summary>
    private static bool FindPath(ref Utf8JsonReader r, byte[][] path)
    {
        int level = 0;
        while (r.Read())
        {
            if (r.TokenType != JsonTokenType.PropertyName) return false; // end of the object at this level
            bool match = r.ValueTextEquals(path[level]);
            r.Read();
            if (!match) { r.TrySkip(); continue; }
            if (level == path.Length - 1) return true;
            if (r.TokenType != JsonTokenType.StartObject) return false;
            level++;
        }
        return false;
    }

    /// <summary>A Home Assistant state object: "state" is the value of a one-channel stream.</summary>
    private int ReadState(ReadOnlySequence<byte> payload)
    {
        var r = new Utf8JsonReader(payload);
        r.Read();
        if (FindPath(ref r, [StateField]) && TryValue(ref r, out float v)) { _values[0] = v; return 1; }
        return 0;
    }

    private static bool IsTimeField(ref Utf8JsonReader r)
    {
        foreach (var f in TimeFields) if (r.ValueTextEquals(f)) return true;
        return false;
    }

    /// <summary>First message without configured fields: its numeric fields, in order, become the channels.</summary>
    private bool Learn(ReadOnlySequence<byte> payload)
    {
        var names = new List<string>();
        var r = new Utf8JsonReader(payload);
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) return false;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            string name = r.GetString()!;
            bool isTime = IsTimeField(ref r);
            r.Read();
            if (!isTime && r.TokenType == JsonTokenType.Number) names.Add(name);
            r.TrySkip();
        }
        if (names.Count == 0) return false;
        SetFields(names.ToArray());
        _o.Log?.Invoke($"{Description}: channels {string.Join(", ", names)} (from the first message)");
        return true;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
