using System.Globalization;
using System.Text;
using EdgeRnn.Forecasting.Backtest;
using EdgeRnn.Forecasting.Data;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// backtest --output FILE.csv and --plot FILE.svg: the served forecaster's windows as the runner scores them.
/// The CSV has one row per (window, target, step), in sensor units:
///   origin_row[,origin_time],target,k,row[,time],forecast,truth[,lower,upper]
/// where origin_row is the last row the forecaster had seen, row = origin_row + k the row forecast, the times are the
/// file's own time text (when it has a time column), and an empty cell is a missing value (no truth in the file, or no
/// interval yet). The plot shows, per target over the scored span, the truth, the one-step-ahead forecast (with its
/// interval when there is one) and the H-step-ahead forecast, each placed at the row it forecasts.
/// </summary>
public sealed class BacktestWindows(SeriesTable table, TextWriter? csv, bool plot) : IBacktestWindowSink
{
    private readonly StringBuilder _line = new();
    private int[] _columns = [];
    private int _horizon;
    private bool _intervals;
    private long _rows;

    // plot: per window, per target, the 1-step and H-step forecasts and the 1-step interval
    private readonly List<int> _origins = new();
    private readonly List<float> _next = new(), _end = new(), _lower = new(), _upper = new();

    public string Variant { get; private set; } = "";
    public IReadOnlyList<string> Targets { get; private set; } = [];
    public long CsvRows => _rows;

    public void Begin(string variant, IReadOnlyList<string> targets, int horizon, bool intervals)
    {
        Variant = variant;
        Targets = targets;
        _horizon = horizon;
        _intervals = intervals;
        _columns = targets.Select(table.IndexOf).ToArray();
        if (csv is null) return;
        bool times = table.TimeText is not null;
        csv.Write($"origin_row{(times ? ",origin_time" : "")},target,k,row{(times ? ",time" : "")},forecast,truth{(intervals ? ",lower,upper" : "")}\n");
    }

    public void Window(int row, ReadOnlySpan<float> forecast, ReadOnlySpan<float> lower, ReadOnlySpan<float> upper)
    {
        int C = _columns.Length, H = _horizon;
        if (plot)
        {
            _origins.Add(row);
            for (int c = 0; c < C; c++)
            {
                _next.Add(forecast[c]);
                _end.Add(forecast[(H - 1) * C + c]);
                _lower.Add(_intervals ? lower[c] : float.NaN);
                _upper.Add(_intervals ? upper[c] : float.NaN);
            }
        }
        if (csv is null) return;
        var times = table.TimeText;
        var ci = CultureInfo.InvariantCulture;
        for (int c = 0; c < C; c++)
        {
            float[] truth = table.Columns[_columns[c]];
            for (int k = 1; k <= H; k++)
            {
                int j = (k - 1) * C + c, r = row + k;
                var sb = _line.Clear();
                sb.Append(row.ToString(ci));
                if (times is not null) sb.Append(',').Append(times[row]);
                sb.Append(',').Append(Targets[c]).Append(',').Append(k.ToString(ci)).Append(',').Append(r.ToString(ci));
                if (times is not null) sb.Append(',').Append(r < times.Length ? times[r] : "");
                Cell(sb, forecast[j]);
                Cell(sb, r < truth.Length ? truth[r] : float.NaN);
                if (_intervals) { Cell(sb, lower[j]); Cell(sb, upper[j]); }
                sb.Append('\n');
                csv.Write(sb);
                _rows++;
            }
        }
    }

    private static void Cell(StringBuilder sb, float v)
    {
        sb.Append(',');
        if (float.IsFinite(v)) sb.Append(v.ToString("R", CultureInfo.InvariantCulture));
    }

    /// <summary>One panel per target: truth, the 1-step forecast (and interval), the H-step forecast, over the scored rows.</summary>
    public string RenderSvg(string title)
    {
        int C = _columns.Length, H = _horizon, n = _origins.Count;
        if (n == 0) throw new InvalidOperationException("no backtest windows were recorded");
        int from = _origins[0] + 1, to = Math.Min(_origins[^1] + H, table.Rows - 1);
        var panels = new List<SvgPlot.Panel>();
        for (int c = 0; c < C; c++)
        {
            float[] truth = table.Columns[_columns[c]];
            double[] tx = Enumerable.Range(from, to - from + 1).Select(r => (double)r).ToArray();
            double[] ty = tx.Select(r => (double)truth[(int)r]).ToArray();
            double[] Series(List<float> values) => Enumerable.Range(0, n).Select(i => (double)values[i * C + c]).ToArray();
            double[] nx = _origins.Select(o => (double)(o + 1)).ToArray();
            var lines = new List<SvgPlot.Line>
            {
                new("truth", "#222222", tx, ty),
                new("forecast, 1 step ahead", "#1f77b4", nx, Series(_next)),
            };
            if (_intervals)
            {
                lines.Add(new("interval (1 step), lower", "#9ecae1", nx, Series(_lower)));
                lines.Add(new("upper", "#9ecae1", nx, Series(_upper)));
            }
            if (H > 1) lines.Add(new($"forecast, {H} steps ahead", "#d62728", _origins.Select(o => (double)(o + H)).ToArray(), Series(_end), Dashed: true));
            panels.Add(new SvgPlot.Panel($"{Targets[c]} (rows; each forecast placed at the row it forecasts)", lines));
        }
        return SvgPlot.Render(title, panels);
    }
}
