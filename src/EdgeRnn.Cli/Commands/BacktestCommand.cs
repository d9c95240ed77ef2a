using EdgeRnn.Forecasting;
using EdgeRnn.Forecasting.Backtest;
using EdgeRnn.Forecasting.Data;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn backtest --data D.csv --protocol ltsf|online (--target COL[,...]|all --horizon H | --model M) [--rows N] [--json]
///   [--features COLS] [--time COL] [--season S] [--lookback L] [--coverage 0.9] plus the training flags of `train`.
/// Trains and evaluates in one command, or with --model scores that file without retraining (ltsf: on the test span;
/// online: forecasting and learning from the test stream); prints a table (stdout), progress (stderr), and with --json one JSON object as the last line.
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
        var report = BacktestRunner.Run(table, options, ProgressWriter.StdErr());
        Console.Write(report.ToTable());
        if (json) Console.WriteLine(report.ToJson());
        return 0;
    }
}
