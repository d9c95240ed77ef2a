using System.Buffers;
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
    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(10);
    public Action<string>? Log { get; init; }
}

/// <summary>
/// An MQTT subscription (MQTTnet 5; wildcards allowed) whose messages are JSON objects with named numeric fields, e.g.
/// <c>{"ts": 1700000000123, "temp": 21.5, "hum": 40}</c>. Each concrete topic is its own stream. A "ts", "timestamp" or
/// "time" field (epoch s/ms or ISO 8601) is the sample time, else the arrival time. A field missing from a message or null
/// is NaN. Messages that are not JSON objects or carry none of the channels are counted and dropped. Reconnects with backoff.
/// The JSON is read with Utf8JsonReader (no reflection, AOT-safe) into a preallocated buffer.
/// </summary>
public sealed class MqttSource : ISampleSource
{
    private static readonly byte[][] TimeFields = ["ts"u8.ToArray(), "timestamp"u8.ToArray(), "time"u8.ToArray()];
    private readonly string _topic;
    private readonly MqttSourceOptions _o;
    private byte[][]? _fieldUtf8;
    private string[] _channels;
    private float[] _values = [];
    private long _messages, _samples, _badPayloads, _reconnects, _connectFailures;

    public MqttSource(string topicFilter, MqttSourceOptions options)
    {
        _topic = topicFilter;
        _o = options;
        _channels = options.Fields?.ToArray() ?? [];
        if (options.Fields is not null) SetFields(_channels);
    }

    public string Description => $"mqtt:{_topic}@{_o.Host}:{_o.Port}";
    public IReadOnlyList<string> Channels => _channels;
    public bool Subscribed { get; private set; }
    public IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["messages"] = Interlocked.Read(ref _messages),
        ["samples"] = Interlocked.Read(ref _samples),
        ["bad_payloads"] = Interlocked.Read(ref _badPayloads),
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
                    .WithClientId(_o.ClientId ?? $"edgernn-ingest-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
                if (_o.Username is not null) b = b.WithCredentials(_o.Username, _o.Password);
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
        try
        {
            if (_fieldUtf8 is null && !Learn(payload)) { Interlocked.Increment(ref _badPayloads); return; }
            var fields = _fieldUtf8!;
            Array.Fill(_values, float.NaN);
            long ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            int found = 0;
            var r = new Utf8JsonReader(payload);
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject) { Interlocked.Increment(ref _badPayloads); return; }
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                int idx = -1;
                for (int i = 0; i < fields.Length; i++) if (r.ValueTextEquals(fields[i])) { idx = i; break; }
                bool isTime = idx < 0 && IsTimeField(ref r);
                r.Read();
                if (idx >= 0)
                {
                    if (r.TokenType == JsonTokenType.Number) { _values[idx] = r.TryGetDouble(out double d) ? (float)d : float.NaN; found++; }
                    else if (r.TokenType == JsonTokenType.Null) found++;
                }
                else if (isTime)
                {
                    if (r.TokenType == JsonTokenType.Number && r.TryGetDouble(out double t) && double.IsFinite(t))
                        ts = (long)Math.Round(Math.Abs(t) < 1e11 ? t * 1000 : t);
                    else if (r.TokenType == JsonTokenType.String && r.TryGetDateTimeOffset(out var dto))
                        ts = dto.ToUnixTimeMilliseconds();
                }
                r.TrySkip();
            }
            if (found == 0) { Interlocked.Increment(ref _badPayloads); return; }
            Interlocked.Increment(ref _samples);
            sink.OnSample(topic, ts, _values);
        }
        catch (JsonException) { Interlocked.Increment(ref _badPayloads); }
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
