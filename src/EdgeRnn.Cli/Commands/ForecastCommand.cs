using System.Text;
using EdgeRnn.Cli;
using EdgeRnn.Forecasting;
using EdgeRnn.Forecasting.Data;
using EdgeRnn.Model;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn forecast --model M --input in.csv --output out.csv [--precision float32|int8] [--targets A,B] [--features A,B,C] [--time COL] [--aggregate]
///   [--intervals 0.9] (the aggregate, plus :lower/:upper columns at that coverage; --aggregate alone: 0.9)
/// Real forecasts in sensor units: one row per input row once the lookback is filled, the time column carried through,
/// then &lt;target&gt;@&lt;k&gt; for k = 1..H (see <see cref="ForecastCsv"/>). --targets and --features say what a network-only
/// file's outputs and inputs are (a forecaster file says it itself). By default the model's own forecast (what
/// tools/pytorch/edgernn_model.py computes); with --aggregate what `edgernn run` serves: the online aggregate of the
/// model and the simple experts, fed the same rows. The output is written atomically.
/// </summary>
public static class ForecastCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, ["aggregate"]);
        string? model = a.Get("model"), input = a.Get("input"), output = a.Get("output"), time = a.Get("time");
        Precision precision = a.GetPrecision();
        var networkOnly = ParseNetworkOnly(a);
        var format = TrainCommand.CsvFormatFrom(a);
        string? plot = a.Get("plot");
        double? coverage = a.Has("intervals") ? a.GetDouble("intervals", double.NaN) : null;
        if (coverage is not (null or (> 0 and < 1))) throw new UsageException($"--intervals needs a coverage between 0 and 1 (e.g. 0.9), got {coverage}");
        bool aggregate = a.GetSwitch("aggregate") || coverage is not null;
        a.RejectUnknown();
        string modelPath = model ?? throw new UsageException("missing --model");
        string inputPath = input ?? throw new UsageException("missing --input");
        string outputPath = output ?? throw new UsageException("missing --output");

        var m = ForecasterFile.Load(modelPath, networkOnly);
        if (!File.Exists(inputPath)) throw new FileNotFoundException($"{inputPath}: no such file", inputPath);
        var table = SeriesTable.Load(inputPath, time, format);
        int rows = 0;
        var collect = new PlotCollector(m.Horizon, m.TargetCount);
        AtomicFile.Write(outputPath, stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
            rows = ForecastCsv.Write(m, new StreamForecasterOptions
            { Precision = precision, FineTune = false, Aggregate = aggregate, DriftScaling = aggregate, Coverage = coverage ?? 0.9 },
                table, writer, plot is null ? null : collect.Add);
        });
        if (plot is not null) WritePlot(plot, m, table, collect);
        Console.Error.WriteLine($"edgernn forecast: {table.Rows} input rows, {rows} forecast rows ({m.Horizon} steps of {string.Join(",", m.Targets)}), {precision.Name()}, wrote {outputPath}");
        return 0;
    }

    /// <summary>Keeps, per row, the one-step-ahead forecast and the last full horizon, for --plot.</summary>
    private sealed class PlotCollector(int horizon, int targets)
    {
        public readonly List<(int Row, float[] Next)> Next = new();
        public int LastRow = -1;
        public float[] LastForecast = new float[horizon * targets];
        public void Add(int row, float[] forecast)
        {
            Next.Add((row, forecast[..targets]));
            LastRow = row;
            forecast.AsSpan(0, horizon * targets).CopyTo(LastForecast);
        }
    }

    /// <summary>--plot FILE.svg: per target, the truth, the one-step-ahead forecast, and the final horizon after the last row.</summary>
    private static void WritePlot(string path, HybridModel m, SeriesTable table, PlotCollector c)
    {
        int C = m.TargetCount, H = m.Horizon;
        var panels = new List<SvgPlot.Panel>();
        for (int t = 0; t < C; t++)
        {
            int col = table.IndexOf(m.Targets[t]);
            double[] x = Enumerable.Range(0, table.Rows).Select(i => (double)i).ToArray();
            double[] truth = table.Columns[col].Select(v => (double)v).ToArray();
            double[] nx = c.Next.Select(n => (double)(n.Row + 1)).ToArray();
            double[] ny = c.Next.Select(n => (double)n.Next[t]).ToArray();
            double[] hx = Enumerable.Range(1, H).Select(k => (double)(c.LastRow + k)).ToArray();
            double[] hy = Enumerable.Range(0, H).Select(k => (double)c.LastForecast[k * C + t]).ToArray();
            panels.Add(new SvgPlot.Panel($"{m.Targets[t]} (rows; one-step-ahead forecast placed at the row it forecasts)",
            [
                new SvgPlot.Line("truth", "#222222", x, truth),
                new SvgPlot.Line("forecast, 1 step ahead", "#1f77b4", nx, ny),
                new SvgPlot.Line($"forecast, next {H} steps", "#d62728", hx, hy, Dashed: true),
            ]));
        }
        string svg = SvgPlot.Render($"edgernn forecast: {Path.GetFileName(table.Source)}", panels);
        AtomicFile.Write(path, s => s.Write(Encoding.UTF8.GetBytes(svg)));
        Console.Error.WriteLine($"edgernn forecast: wrote {path}");
    }

    /// <summary>--targets / --features: what a network-only file's outputs and inputs are (null when neither is given).</summary>
    public static NetworkOnlyInfo? ParseNetworkOnly(Args a)
    {
        try { return NetworkOnlyInfo.Parse(a.Get("targets"), a.Get("features")); }
        catch (FormatException e) { throw new UsageException(e.Message); }
    }
}
