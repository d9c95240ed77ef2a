using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text.Json;
using EdgeRnn.Forecasting;
using EdgeRnn.Ingest;
using Microsoft.Extensions.Hosting;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace EdgeRnn.Daemon;

/// <summary>
/// `edgernn demo`: everything in one process, nothing external. An MQTTnet broker on a free loopback port, a simulated
/// sensor playing the bundled NAB machine-temperature recording, the real daemon pipeline (bundled model, int8, online
/// fine-tuning on, outbox, MQTT publisher) and a subscriber that prints every forecast against the truth.
/// </summary>
public static class Demo
{
    /// <summary>The recording, packed by tools/demo/pack_series.py (12 bytes a row; the CSV text was 732 KB of the binary).</summary>
    public const string SeriesResource = "demo/machine_temperature_system_failure.bin";

    public static async Task<int> RunAsync(double? durationSeconds, double rateHz, TextWriter output, CancellationToken ct)
    {
        var asm = typeof(Demo).Assembly;
        var (times, values) = LoadSeries(asm);
        string? modelRes = asm.GetManifestResourceNames().Where(n => n.StartsWith("models/", StringComparison.Ordinal) && n.EndsWith(".safetensors", StringComparison.Ordinal))
            .OrderBy(n => n.Contains("machine_temp", StringComparison.Ordinal) ? 0 : 1).ThenBy(n => n, StringComparer.Ordinal).FirstOrDefault();
        if (modelRes is null) { output.WriteLine("edgernn demo: this build has no bundled model (models/*.safetensors)"); return 1; }

        string work = Path.Combine(Path.GetTempPath(), $"edgernn-demo-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        string modelPath = Path.Combine(work, Path.GetFileName(modelRes));
        await using (var rs = asm.GetManifestResourceStream(modelRes)!)
        await using (var fs = File.Create(modelPath)) await rs.CopyToAsync(fs, ct);

        int port = FreeLoopbackPort();
        var server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        await server.StartAsync();
        try
        {
            var settings = DaemonConfig.Resolve(new DaemonOptions
            {
                Stream = "machine-temp", Source = "csv:machine_temperature_system_failure.csv", /* replayed by PlaybackSource below */ Model = modelPath, Precision = "int8", FineTune = "on",
                Mqtt = $"mqtt://127.0.0.1:{port}", Gateway = "demo", StateDir = Path.Combine(work, "state"),
                Metrics = "127.0.0.1:0", LogLevel = "Warning", CheckpointIntervalSeconds = 60, DrainTimeoutSeconds = 2,
            }, new Dictionary<string, string?>());
            int live = (int)(values.Length * 0.8); // past the model's training and validation rows: unseen data
            // replayed at once so forecasts start immediately: the model's look-back (400) is enough for the forecaster, the
            // anomaly detector learns over its warm-up (750 samples) and a reference window of its scores beyond that
            const int Warmup = 2000;
            int start = live - Warmup;
            var truth = new Dictionary<long, float>(values.Length);
            for (int i = 0; i < values.Length; i++) truth[times[i]] = values[i];
            var batches = new SharedModelBatches(settings.Streams);
            var factories = new DaemonFactories
            {
                Batches = batches,
                CreateForecaster = s =>
                {
                    try { return batches.Load(s); }
                    catch (NotSupportedException e)
                    {
                        output.WriteLine($"edgernn demo: {e.Message}: using float32");
                        return (s with { Precision = Precision.Float32 }).LoadForecaster(s.FineTune);
                    }
                },
                CreateSource = s => new PlaybackSource(s.Name, ["value"], times, values.Select(v => new[] { v }).ToArray(), rateHz, start, Warmup),
            };

            using var subscriber = new MqttClientFactory().CreateMqttClient();
            var printer = new ForecastPrinter(output, truth, times[^1] - times[0] + (times[1] - times[0]), times[0], times[live]);
            subscriber.ApplicationMessageReceivedAsync += e =>
            {
                if (e.ApplicationMessage.Topic.EndsWith("/anomaly", StringComparison.Ordinal)) printer.OnAnomaly(e.ApplicationMessage.Payload);
                else printer.OnMessage(e.ApplicationMessage.Topic, e.ApplicationMessage.Payload);
                return Task.CompletedTask;
            };
            await subscriber.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("edgernn-demo-viewer").Build(), ct);
            await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("edgernn/demo/+/forecast", MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter("edgernn/demo/+/anomaly", MqttQualityOfServiceLevel.AtLeastOnce).Build(), ct);

            output.WriteLine($"edgernn demo: MQTT broker on 127.0.0.1:{port}, sensor: NAB machine_temperature_system_failure (5-min samples) replayed at {rateHz} Hz from row {live} (after {Warmup} rows of warm-up),");
            output.WriteLine($"model {Path.GetFileName(modelPath)} (int8) with online fine-tuning; forecasts on edgernn/demo/machine-temp/forecast, anomaly scores on .../anomaly");
            output.WriteLine($"(alert at score >= {settings.Anomaly!.Threshold}; NAB labels the machine's failure about 2014-02-08 14:30, replayed about {(int)((new DateTime(2014, 2, 8, 14, 30, 0, DateTimeKind.Utc) - DateTimeOffset.FromUnixTimeMilliseconds(times[live]).UtcDateTime).TotalMinutes / 5 / rateHz)} s after the start). Ctrl+C to stop.");
            output.WriteLine("  seq  time              truth   forecast(1 step)   error  |  90% interval (1 step) | MAE model  MAE naive | forecast +H  leading expert   fine-tune                  | anomaly");

            using var host = DaemonHost.Build(settings, factories);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (durationSeconds is { } d) stop.CancelAfter(TimeSpan.FromSeconds(d));
            await host.RunAsync(stop.Token);
            output.WriteLine($"edgernn demo: {printer.Count} forecasts; MAE of the 1-step forecast {printer.Mae:F3} vs {printer.NaiveMae:F3} for repeating the last value");
            output.WriteLine($"edgernn demo: {printer.Alerts.Count} anomaly alert(s){(printer.Alerts.Count > 0 ? ": " + string.Join(", ", printer.Alerts.Take(20).Select(t => DateTimeOffset.FromUnixTimeMilliseconds(t).UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture))) : "")}");
            await subscriber.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None);
            return printer.Count > 0 ? 0 : 1;
        }
        finally
        {
            await server.StopAsync(new MqttServerStopOptionsBuilder().Build());
            server.Dispose();
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }

    private static (long[] Times, float[] Values) LoadSeries(Assembly asm)
    {
        using var s = asm.GetManifestResourceStream(SeriesResource) ?? throw new InvalidDataException($"missing embedded resource {SeriesResource}");
        return ReadPackedSeries(s, SeriesResource);
    }

    /// <summary>"EDS1", int32 n, then n × (int64 Unix ms, float32 value), little-endian (tools/demo/pack_series.py).</summary>
    internal static (long[] Times, float[] Values) ReadPackedSeries(Stream s, string name)
    {
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        ReadOnlySpan<byte> b = ms.GetBuffer().AsSpan(0, (int)ms.Length);
        if (b.Length < 8 || !b[..4].SequenceEqual("EDS1"u8)) throw new InvalidDataException($"{name}: not a packed series (EDS1)");
        int n = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(b[4..]);
        if (n < 0 || b.Length != 8 + 12L * n) throw new InvalidDataException($"{name}: {b.Length} bytes do not hold {n} rows");
        var t = new long[n];
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            var row = b.Slice(8 + 12 * i, 12);
            t[i] = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(row);
            v[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(row[8..]);
        }
        return (t, v);
    }

    private static int FreeLoopbackPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int p = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }

    /// <summary>Scores each 1-step forecast when its truth arrives (the next sample), with persistence as the yardstick.</summary>
    private sealed class ForecastPrinter(TextWriter output, Dictionary<long, float> truth, long loopSpan, long firstTs, long liveTs)
    {
        private readonly Dictionary<long, float> _pending = new();
        private readonly Dictionary<long, (double Score, bool Alert)> _anomaly = new();
        public readonly List<long> Alerts = new();

        /// <summary>Keeps the step's score for its forecast line (the anomaly message of a step is written just before its forecast).</summary>
        public void OnAnomaly(System.Buffers.ReadOnlySequence<byte> payload)
        {
            using var doc = JsonDocument.Parse(payload);
            var root = doc.RootElement;
            long ts = root.GetProperty("ts").GetInt64();
            bool alert = root.GetProperty("anomaly").GetBoolean();
            if (_anomaly.Count > 64) _anomaly.Clear();
            _anomaly[ts] = (root.GetProperty("score").GetDouble(), alert);
            if (alert && ts >= liveTs) Alerts.Add(ts);
        }
        private double _absErr, _absNaive;
        private long _scored;
        public long Count;
        public double Mae => _scored == 0 ? double.NaN : _absErr / _scored;
        public double NaiveMae => _scored == 0 ? double.NaN : _absNaive / _scored;

        private bool Truth(long ts, out float v)
        {
            long k = loopSpan > 0 && ts >= firstTs ? firstTs + (ts - firstTs) % loopSpan : ts;
            return truth.TryGetValue(k, out v);
        }

        public void OnMessage(string topic, System.Buffers.ReadOnlySequence<byte> payload)
        {
            using var doc = JsonDocument.Parse(payload);
            var root = doc.RootElement;
            long seq = root.GetProperty("seq").GetInt64(), ts = root.GetProperty("ts").GetInt64();
            var vals = root.GetProperty("values");
            var hts = root.GetProperty("horizon_ts");
            int h = vals.GetArrayLength();
            float next = vals[0][0].ValueKind == JsonValueKind.Number ? vals[0][0].GetSingle() : float.NaN;
            float last = vals[h - 1][0].ValueKind == JsonValueKind.Number ? vals[h - 1][0].GetSingle() : float.NaN;
            if (ts < liveTs) return; // warm-up history
            var ft = root.GetProperty("fine_tune");
            float Cell(string name) => root.TryGetProperty(name, out var g) && g[0][0].ValueKind == JsonValueKind.Number ? g[0][0].GetSingle() : float.NaN;
            float lo = Cell("lower"), hi = Cell("upper");
            string lead = root.TryGetProperty("leading_expert", out var le) ? le.GetString() ?? "-" : "-";
            string loss = ft.GetProperty("loss").ValueKind == JsonValueKind.Number ? ft.GetProperty("loss").GetDouble().ToString("F4", CultureInfo.InvariantCulture) : "-";
            Count++;
            string scored = "                              ";
            if (Truth(ts, out float actual) && _pending.Remove(ts, out float predicted))
            {
                float prev = Truth(ts - (hts[0].GetInt64() - ts), out float p) ? p : actual;
                _absErr += Math.Abs(predicted - actual);
                _absNaive += Math.Abs(prev - actual);
                _scored++;
                scored = $"{actual,7:F2}   {predicted,7:F2}   {Math.Abs(predicted - actual),12:F2}";
            }
            _pending[hts[0].GetInt64()] = next;
            if (_pending.Count > 64) _pending.Clear();
            string time = DateTimeOffset.FromUnixTimeMilliseconds(ts).UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
            string anomaly = _anomaly.Remove(ts, out var a) ? FormattableString.Invariant($"{a.Score,5:F3}{(a.Alert ? "  ALERT" : "")}") : "    -";
            output.WriteLine(FormattableString.Invariant($"{seq,5}  {time}  {scored}  | [{lo,8:F2}, {hi,8:F2}]     | {Mae,9:F3}  {NaiveMae,9:F3} | {last,7:F2} (+{h})  {lead,-15} {ft.GetProperty("updates").GetInt64(),5} updates, loss {loss,-7} | {anomaly}"));
        }
    }
}
