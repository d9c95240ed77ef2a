using System.Globalization;
using System.Text;
using EdgeRnn.Forecasting.Data;

namespace EdgeRnn.Forecasting;

/// <summary>
/// Real forecasts for a table (what `edgernn forecast` writes; tools/pytorch/edgernn_model.py writes the same):
/// the model's features are picked from the table by name, fed row by row through the <see cref="StreamForecaster"/>
/// (gaps: empty or unparsable cells, filled by the forecaster's one missing-value policy), and one output row is written
/// per input row once the lookback is filled: the time column's cell as read (when the table has one), then
/// <c>&lt;target&gt;@&lt;k&gt;</c> for every target and k = 1..H (target-major), in sensor units.
/// With a coverage (<c>edgernn forecast --intervals 0.9</c>) the values are the online aggregate's (what the daemon serves)
/// and <c>&lt;target&gt;@&lt;k&gt;:lower</c> and <c>:upper</c> columns follow, in the same order (empty while unknown).
/// Without it the values are the model's own (the PyTorch twin's contract).
/// </summary>
public static class ForecastCsv
{
    public static string Header(HybridModel model, string? timeColumn, bool intervals = false)
    {
        var sb = new StringBuilder();
        if (timeColumn is not null) sb.Append(timeColumn);
        foreach (string suffix in intervals ? new[] { "", ":lower", ":upper" } : [""])
            foreach (string t in model.Targets)
                for (int k = 1; k <= model.Horizon; k++)
                {
                    if (sb.Length > 0) sb.Append(',');
                    sb.Append(t).Append('@').Append(k.ToString(CultureInfo.InvariantCulture)).Append(suffix);
                }
        return sb.ToString();
    }

    /// <summary>Returns the number of forecast rows written.</summary>
    /// <param name="coverage">nominal coverage of the intervals; null = no intervals, the model's own values</param>
    public static int Write(HybridModel model, Precision precision, SeriesTable table, TextWriter output, double? coverage = null) =>
        Write(model, new StreamForecasterOptions
        { Precision = precision, FineTune = false, Aggregate = coverage is not null, DriftScaling = coverage is not null, Coverage = coverage ?? 0.9 }, table, output);

    /// <summary>
    /// With <see cref="StreamForecasterOptions.Aggregate"/> on: what the daemon serves (the experts' online aggregate), plus
    /// interval columns. <paramref name="onForecast"/> sees each (row, forecast [H·C]) too (plots).
    /// </summary>
    public static int Write(HybridModel model, StreamForecasterOptions options, SeriesTable table, TextWriter output, Action<int, float[]>? onForecast = null)
    {
        int[] columns = model.Channels.Select(name =>
        {
            for (int i = 0; i < table.Names.Count; i++) if (table.Names[i] == name) return i;
            throw new InvalidDataException($"{table.Source}: the model needs a numeric column '{name}' (its features: {string.Join(", ", model.Channels)}; the file has: {string.Join(", ", table.Names)})");
        }).ToArray();
        bool intervals = options.Aggregate && !model.IsNetworkOnly;
        output.Write(Header(model, table.TimeText is null ? null : table.TimeColumn, intervals));
        output.Write('\n');
        using var f = new StreamForecaster(model, options);
        int h = model.Horizon, c = model.TargetCount, rows = 0;
        var sample = new float[columns.Length];
        var forecast = new float[h * c]; var lower = new float[h * c]; var upper = new float[h * c];
        var sb = new StringBuilder();
        for (int r = 0; r < table.Rows; r++)
        {
            for (int i = 0; i < columns.Length; i++) sample[i] = table.Columns[columns[i]][r];
            if (!f.Observe(sample, forecast, lower, upper)) continue;
            onForecast?.Invoke(r, forecast);
            sb.Clear();
            bool first = true;
            if (table.TimeText is { } times) { sb.Append(times[r]); first = false; }
            foreach (float[] grid in intervals ? new[] { forecast, lower, upper } : [forecast])
                for (int t = 0; t < c; t++)
                    for (int k = 0; k < h; k++)
                    {
                        if (!first) sb.Append(',');
                        first = false;
                        float v = grid[k * c + t];
                        if (float.IsFinite(v)) sb.Append(v.ToString("R", CultureInfo.InvariantCulture));
                    }
            sb.Append('\n');
            output.Write(sb);
            rows++;
        }
        return rows;
    }
}
