using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeRnn.Forecasting.Backtest;

public sealed record Score([property: JsonPropertyName("mse")] double Mse, [property: JsonPropertyName("mae")] double Mae);

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

    public string ToJson() => JsonSerializer.Serialize(this, ForecastJsonContext.Default.BacktestReport);
    public static BacktestReport FromJson(string json) => JsonSerializer.Deserialize(json, ForecastJsonContext.Default.BacktestReport)
        ?? throw new InvalidDataException("empty backtest report");

    /// <summary>The human-readable table (stdout before the JSON line).</summary>
    public string ToTable()
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"{Protocol} backtest  data={Data}  target={Target}  horizon={Horizon}  windows={Windows}  season={Season}  lookback={Lookback}");
        sb.AppendLine($"{"method",-24} {"mse",10} {"mae",10}");
        foreach (var kv in Results) sb.AppendLine($"{kv.Key,-24} {kv.Value.Mse,10:F5} {kv.Value.Mae,10:F5}");
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

    public Score Result => _n == 0 ? new Score(double.NaN, double.NaN) : new Score(_se / _n, _ae / _n);
}
