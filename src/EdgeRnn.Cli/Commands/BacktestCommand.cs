using System.Text;
using EdgeRnn.Forecasting;
using EdgeRnn.Forecasting.Backtest;
using EdgeRnn.Forecasting.Data;
using EdgeRnn.Model;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn backtest --data D.csv --protocol ltsf|online (--target COL[,...]|all --horizon H | --model M) [--rows N] [--json]
///   [--features COLS] [--time COL] [--season S] [--lookback L] [--coverage 0.9] plus the training flags of `train`.
/// Trains and evaluates in one command, or with --model scores that file without retraining (ltsf: on the test span;
/// online: forecasting and learning from the test stream); prints a table (stdout), progress (stderr), and with --json one JSON object as the last line.
/// --output FILE.csv writes the served forecaster's per-window forecasts, --plot FILE.svg draws them against the truth
/// (<see cref="BacktestWindows"/>); both are written atomically.
/// </summary>
public static class BacktestCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, ["json", "no-int8"]);
        string data = a.Require("input");
        string protocol = a.Require("protocol");
        string? modelPath = a.Get("model");
        HybridModel? model = modelPath is null ? null : ForecasterFile.Load(modelPath);
        string target = model is null ? a.Require("target") : string.Join(",", model.Targets);
        int horizon = model?.Horizon ?? a.GetInt("horizon", 0);
        if (model is not null && (a.Get("target") is { } t && t != target || a.Get("horizon") is { } h && h != horizon.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            throw new UsageException($"--model {modelPath} forecasts {target} {horizon} steps ahead: leave out --target and --horizon, or give those");
        if (horizon < 1) throw new UsageException("--horizon H is required (steps ahead, at least 1)");
        int rows = a.GetInt("rows", 0);
        bool json = a.GetSwitch("json");
        string? output = a.Get("output"), plot = a.Get("plot");
        var table = SeriesTable.Load(data, a.Get("time"), TrainCommand.CsvFormatFrom(a));
        if (rows > 0) table = table.Head(rows);
        int season = a.GetInt("season", 0);
        var options = new BacktestOptions
        {
            Protocol = protocol, Target = target, Horizon = horizon, Features = a.Get("features"),
            Season = season > 0 ? season : null,
            Period = Args.ParseDuration(a.Get("period")),
            Lookback = a.GetInt("lookback", 336),
            Train = TrainCommand.ParseTrainOptions(a),
            Online = TrainCommand.ParseOnlineOptions(a),
            Int8 = !a.GetSwitch("no-int8"),
            Model = model,
            Coverage = a.GetDouble("coverage", 0.9),
        };
        a.RejectUnknown();
        BacktestWindows? windows = null;
        BacktestReport Backtest(TextWriter? csv)
        {
            if (csv is not null || plot is not null) windows = new BacktestWindows(table, csv, plot: plot is not null);
            return BacktestRunner.Run(table, options with { Windows = windows }, ProgressWriter.StdErr());
        }
        BacktestReport report = null!;
        if (output is null) report = Backtest(null);
        else
        {
            AtomicFile.Write(output, stream =>
            {
                using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
                report = Backtest(writer);
            });
            Console.Error.WriteLine($"edgernn backtest: wrote {output} ({windows!.CsvRows} rows: {report.Windows} windows of {windows.Variant}, {windows.Targets.Count} target(s) x {report.Horizon} steps)");
        }
        if (plot is not null)
        {
            string svg = windows!.RenderSvg($"edgernn backtest: {report.Data}, {report.Protocol} protocol, {windows.Variant}");
            AtomicFile.Write(plot, s => s.Write(Encoding.UTF8.GetBytes(svg)));
            Console.Error.WriteLine($"edgernn backtest: wrote {plot}");
        }
        Console.Write(report.ToTable());
        if (json) Console.WriteLine(report.ToJson());
        return 0;
    }
}
