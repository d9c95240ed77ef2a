using System.Buffers;
using System.Text.Json;
using EdgeRnn.Forecasting.Anomaly;

namespace EdgeRnn.Daemon;

/// <summary>
/// One stream's anomaly score: an <see cref="AnomalyDetector"/> per target (fed the target's value of every model step,
/// as `edgernn detect` feeds it every row), the stream's score the highest of them, published per sample through the
/// same outbox as the forecasts (own seq under the outbox key "&lt;stream&gt;/anomaly", so QoS 1 and ordering hold alike).
/// The detectors' settings are those `detect` uses: its warm-up default (NAB's probationary period capped at 750 rows,
/// what a stream of unknown length gets), the daily season in rows from the sample period, then the user's overrides.
/// Payload: {"stream","seq","ts","time","score","anomaly","threshold"} plus "scores" per target when there are several.
/// Allocation-free per sample.
/// </summary>
public sealed class StreamAnomaly
{
    /// <summary>The default alert threshold: the one NAB's optimizer chose for the detector on all three profiles.</summary>
    public const double DefaultThreshold = 0.995;

    private readonly AnomalyDetector[] _detectors;
    private readonly int[] _input;      // detector t reads model input _input[t]
    private readonly double[] _scores;
    private readonly ArrayBufferWriter<byte> _json = new(256);
    private readonly Utf8JsonWriter _writer;
    private readonly string _stream;

    /// <summary>The outbox key of this stream's anomaly messages (a stream name never contains '/').</summary>
    public string OutboxKey { get; }
    public string Topic { get; }
    public double Threshold { get; }
    public AnomalyOptions DetectorOptions { get; }
    /// <summary>The targets scored (those the model also reads as inputs).</summary>
    public IReadOnlyList<string> Targets { get; }
    /// <summary>The last payload written by <see cref="Write"/>.</summary>
    public ReadOnlySpan<byte> Payload => _json.WrittenSpan;

    /// <summary>Rows per day for a sample period, as `detect` derives it from the median spacing (0: none usable).</summary>
    public static int DailySeason(TimeSpan? period)
    {
        if (period is not { } p || !(p.TotalSeconds > 0)) return 0;
        int season = (int)Math.Round(86400 / p.TotalSeconds);
        return season is >= 4 and <= 4096 ? season : 0;
    }

    /// <summary>
    /// The detector's options for a stream of this period (and warm-up, default the detector's), with "Name=V,..."
    /// overrides applied last (throws ArgumentException naming a bad one). `detect` and the daemon both build them here.
    /// </summary>
    public static AnomalyOptions Options(TimeSpan? period, string? overrides, int? warmupRows = null)
    {
        var o = new AnomalyOptions { SeasonRows = DailySeason(period) };
        if (warmupRows is { } w) o = o with { WarmupRows = w };
        return overrides is null ? o : AnomalyOptionsParser.Apply(o, overrides);
    }

    /// <summary>Null when no target of the model is also one of its inputs (nothing to score).</summary>
    public static StreamAnomaly? Create(string stream, string topic, IReadOnlyList<string> inputs, IReadOnlyList<string> targets, TimeSpan? period, AnomalySettings settings)
    {
        var names = new List<string>();
        var index = new List<int>();
        foreach (string t in targets)
        {
            int i = StreamPipeline.IndexOf(inputs, t);
            if (i >= 0) { names.Add(t); index.Add(i); }
        }
        return names.Count == 0 ? null : new StreamAnomaly(stream, topic, names, index.ToArray(), Options(period, settings.Overrides), settings.Threshold);
    }

    private StreamAnomaly(string stream, string topic, List<string> targets, int[] input, AnomalyOptions options, double threshold)
    {
        _stream = stream;
        OutboxKey = stream + "/anomaly";
        Topic = topic;
        Targets = targets;
        _input = input;
        DetectorOptions = options;
        Threshold = threshold;
        _detectors = new AnomalyDetector[input.Length];
        for (int i = 0; i < input.Length; i++) _detectors[i] = new AnomalyDetector(options);
        _scores = new double[input.Length];
        _writer = new Utf8JsonWriter(_json);
    }

    /// <summary>Feeds one model step (model input order, raw units); returns the stream's score (the highest of its targets').</summary>
    public double Observe(ReadOnlySpan<float> input)
    {
        double max = 0;
        for (int i = 0; i < _detectors.Length; i++)
        {
            double s = _detectors[i].Observe(input[_input[i]]);
            _scores[i] = s;
            if (s > max) max = s;
        }
        return max;
    }

    public bool IsAlert(double score) => score >= Threshold;

    /// <summary>Writes the payload of the last observed step into <see cref="Payload"/>.</summary>
    public void Write(long seq, long ts, double score)
    {
        _json.Clear();
        _writer.Reset(_json);
        var w = _writer;
        StreamPipeline.StartPayload(w, _stream, seq, ts);
        w.WriteNumber("score"u8, score);
        w.WriteBoolean("anomaly"u8, IsAlert(score));
        w.WriteNumber("threshold"u8, Threshold);
        if (_scores.Length > 1)
        {
            w.WriteStartObject("scores"u8);
            for (int i = 0; i < _scores.Length; i++) w.WriteNumber(Targets[i], _scores[i]);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.Flush();
    }
}
