using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeRnn.Forecasting.Backtest;

public sealed record Score([property: JsonPropertyName("mse")] double Mse, [property: JsonPropertyName("mae")] double Mae)
{
    /// <summary>Fraction of true values inside the prediction interval (served aggregates only).</summary>
    [JsonPropertyName("coverage")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Coverage { get; init; }
    /// <summary>Mean interval width on the normalized scale (served aggregates only).</summary>
    [JsonPropertyName("interval_width")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? IntervalWidth { get; init; }
}

/// <summary>One backtest's figures. <c>--json</c> prints it as the last line of stdout.</summary>
public sealed class BacktestReport
{
    [JsonPropertyName("data")] public string Data { get; set; } = "";
    [JsonPropertyName("protocol")] public string Protocol { get; set; } = "";
    [JsonPropertyName("target")] public string Target { get; set; } = "";
    [JsonPropertyName("horizon")] public int Horizon { get; set; }
    [JsonPropertyName("results")] public Dictionary<string, Score> Results { get; set; } = new(StringComparer.Ordinal);
    [JsonPropertyName("windows")] public long Windows { get; set; }
    [JsonPropertyName("season")] public int Season { get; set; }
    [JsonPropertyName("lookback")] public int Lookback { get; set; }
    [JsonPropertyName("train_seconds")] public double TrainSeconds { get; set; }
    [JsonPropertyName("train_samples_per_second")] public double TrainSamplesPerSecond { get; set; }
    [JsonPropertyName("online_updates")] public long OnlineUpdates { get; set; }
    [JsonPropertyName("online_rollbacks")] public long OnlineRollbacks { get; set; }
    /// <summary>Final aggregate weight of each expert per horizon step (mean over targets), of the served int8 forecaster.</summary>
    [JsonPropertyName("expert_weights")] public Dictionary<string, double[]> ExpertWeights { get; set; } = new(StringComparer.Ordinal);

    public string ToJson() => JsonSerializer.Serialize(this, ForecastJsonContext.Default.BacktestReport);
    public static BacktestReport FromJson(string json) => JsonSerializer.Deserialize(json, ForecastJsonContext.Default.BacktestReport)
        ?? throw new InvalidDataException("empty backtest report");

    /// <summary>The human-readable table (stdout before the JSON line).</summary>
    public string ToTable()
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"{Protocol} backtest  data={Data}  target={Target}  horizon={Horizon}  windows={Windows}  season={Season}  lookback={Lookback}");
        sb.AppendLine($"{"method",-28} {"mse",10} {"mae",10} {"coverage",9} {"width",8}");
        foreach (var kv in Results)
            sb.AppendLine($"{kv.Key,-28} {kv.Value.Mse,10:F5} {kv.Value.Mae,10:F5}{(kv.Value.Coverage is { } cv ? $" {cv,9:F3} {kv.Value.IntervalWidth,8:F3}" : "")}");
        if (ExpertWeights.Count > 0)
        {
            sb.AppendLine("final expert weights per horizon step (mean over targets):");
            sb.Append($"{"step",5}");
            foreach (var name in ExpertWeights.Keys) sb.Append($" {name,15}");
            sb.AppendLine();
            for (int k = 0; k < Horizon; k++)
            {
                sb.Append($"{k + 1,5}");
                foreach (var w in ExpertWeights.Values) sb.Append($" {(k < w.Length ? w[k] : double.NaN),15:F3}");
                sb.AppendLine();
            }
        }
        return sb.ToString();
    }
}

/// <summary>Running MSE and MAE over forecast values (normalized scale); NaN truth is skipped.</summary>
public sealed class ScoreAccumulator
{
    private double _se, _ae;
    private long _n;
    public long Count => _n;

    /// <summary>forecast and truth: [H, C] step-major, normalized.</summary>
    public void Add(ReadOnlySpan<float> forecast, ReadOnlySpan<float> truth)
    {
        for (int i = 0; i < forecast.Length; i++)
        {
            double e = (double)forecast[i] - truth[i];
            if (!double.IsFinite(truth[i])) continue;
            _se += e * e; _ae += Math.Abs(e); _n++;
        }
    }

    private double _width;
    private long _in, _ni;

    /// <summary>lower, upper, truth: [H, C] normalized. NaN truth or a missing interval is not counted.</summary>
    public void AddInterval(ReadOnlySpan<float> lower, ReadOnlySpan<float> upper, ReadOnlySpan<float> truth)
    {
        for (int i = 0; i < truth.Length; i++)
        {
            if (!float.IsFinite(truth[i]) || !float.IsFinite(lower[i]) || !float.IsFinite(upper[i])) continue;
            _ni++;
            _width += upper[i] - lower[i];
            if (truth[i] >= lower[i] && truth[i] <= upper[i]) _in++;
        }
    }

    public Score Result => _n == 0 ? new Score(double.NaN, double.NaN) : new Score(_se / _n, _ae / _n)
    {
        Coverage = _ni == 0 ? null : (double)_in / _ni,
        IntervalWidth = _ni == 0 ? null : _width / _ni,
    };
}
