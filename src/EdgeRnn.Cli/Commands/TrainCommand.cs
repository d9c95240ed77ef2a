using System.Globalization;
using EdgeRnn.Forecasting;
using EdgeRnn.Forecasting.Data;
using EdgeRnn.Model;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn train [--task forecast] --data D.csv --target COL[,COL...]|all --horizon H --out M.safetensors
///   [--features COLS] [--time COL] [--period 1h|300s] [--arch gru|lstm|rnn_tanh] [--hidden 32] [--layers 1] [--epochs 12]
///   [--seed 1] [--lookback 336] [--skip nlinear|last|none] [--inputs diff|level] [--lr 0.001] [--name N] [--version V]
/// Chronological split (ETT-style 12/4 months when the data spans 20 months, else 70/10 by rows); early stopping on
/// validation loss; progress on stderr; deterministic for a seed. --task next-char trains a character model instead
/// (<see cref="NextCharTrainCommand"/>).
/// </summary>
public static class TrainCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, []);
        switch (a.Get("task"))
        {
            case "next-char": return NextCharTrainCommand.Run(a);
            case null or "forecast": break;
            case string t: throw new UsageException($"--task must be forecast (the default) or next-char, got '{t}'");
        }
        string data = a.Require("input"), target = a.Require("target"), outPath = a.Require("output");
        int horizon = a.GetInt("horizon", 0);
        if (horizon < 1) throw new UsageException("--horizon H is required (steps ahead, at least 1)");
        var table = SeriesTable.Load(data, a.Get("time"), CsvFormatFrom(a));
        int rows = a.GetInt("rows", 0);
        if (rows > 0) table = table.Head(rows);
        string? features = a.Get("features");
        var o = ParseTrainOptions(a);
        TimeSpan? period = Args.ParseDuration(a.Get("period")) ?? SeriesPrep.DetectSamplePeriod(table.Times);
        string name = a.Get("name") ?? Path.GetFileNameWithoutExtension(outPath);
        string version = a.Get("version") ?? "1";
        a.RejectUnknown();

        int[] targets = table.Resolve(target);
        var idx = new List<int>(targets);
        if (features is not null) foreach (int f in table.Resolve(features)) if (!idx.Contains(f)) idx.Add(f);
        string[] channels = idx.Select(i => table.Names[i]).ToArray();
        float[][] raw = idx.Select(i => table.Columns[i]).ToArray();
        int n = table.Rows;
        long month = period is { } p && p > TimeSpan.Zero && TimeSpan.TicksPerDay % p.Ticks == 0 ? 30 * (TimeSpan.TicksPerDay / p.Ticks) : 0;
        int trainEnd, valEnd;
        if (month > 0 && n >= 20 * month) { trainEnd = (int)(12 * month); valEnd = (int)(16 * month); }
        else { trainEnd = (int)(n * 0.7); valEnd = (int)(n * 0.8); }
        int lookback = Math.Min(o.Lookback, trainEnd / 4);
        var split = new TrainSplit(trainEnd, Math.Max(trainEnd - 1, lookback - 1), valEnd - 1 - horizon, valEnd);
        if (split.ValTo < split.ValFrom) throw new UsageException($"{data}: too few rows ({n}) for horizon {horizon}");
        Console.Error.WriteLine($"{data}: {n} rows, period {period?.ToString() ?? "unknown"}, {SeriesPrep.CountGaps(table.Times, period)} gaps; train rows [0, {trainEnd}), validation to {valEnd}");
        var (model, rep) = HybridTrainer.Train(raw, channels, targets.Length, horizon, period, split, o, ProgressWriter.StdErr());
        model.WriteMetadata(name, version, new Dictionary<string, string>
        {
            ["trained_on"] = Path.GetFileName(data),
            ["train_rows"] = trainEnd.ToString(CultureInfo.InvariantCulture),
            ["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture),
            ["val_mse"] = rep.BestValMse.ToString("R", CultureInfo.InvariantCulture),
            ["val_mse_skip_only"] = rep.SkipOnlyValMse.ToString("R", CultureInfo.InvariantCulture),
            ["edgernn.skip.shrink"] = rep.SkipShrink.ToString("R", CultureInfo.InvariantCulture),
        });
        model.Save(outPath);
        Console.Error.WriteLine($"wrote {outPath}: {rep.Epochs} epochs in {rep.Seconds:F1} s ({rep.SamplesPerSecond:F0} samples/s), best epoch {rep.BestEpoch}, val mse {rep.BestValMse:F5} (skip path alone {rep.SkipOnlyValMse:F5})");
        return 0;
    }

    /// <summary>--id and --id-column (long format); skipped rows are reported on stderr.</summary>
    internal static EdgeRnn.Ingest.CsvFormat CsvFormatFrom(Args a) => new()
    {
        Id = a.Get("id"),
        IdColumn = a.Get("id-column"),
        OnBadRow = msg => Console.Error.WriteLine("warning: " + msg),
    };

    internal static TrainOptions ParseTrainOptions(Args a)
    {
        var o = new TrainOptions();
        RnnArch arch = ParseArch(a, o.Arch, allowRelu: false);
        string? skip = a.Get("skip"), inputs = a.Get("inputs");
        return o with
        {
            Arch = arch,
            Hidden = a.GetInt("hidden", o.Hidden),
            Layers = a.GetInt("layers", o.Layers),
            Epochs = a.GetInt("epochs", o.Epochs),
            Seed = a.GetInt("seed", o.Seed),
            Batch = a.GetInt("batch", o.Batch),
            Chunk = a.GetInt("chunk", o.Chunk),
            Lookback = a.GetInt("lookback", o.Lookback),
            LearningRate = (float)a.GetDouble("lr", o.LearningRate),
            StepsPerEpoch = a.GetInt("steps-per-epoch", o.StepsPerEpoch),
            Skip = skip switch
            {
                null => o.Skip, "nlinear" => SkipKind.NLinear, "last" => SkipKind.Last, "none" => SkipKind.None,
                _ => throw new UsageException($"--skip must be nlinear, last or none, got '{skip}'"),
            },
            Transform = inputs switch
            {
                null => o.Transform, "diff" => InputTransform.Diff, "level" => InputTransform.Level,
                _ => throw new UsageException($"--inputs must be diff or level, got '{inputs}'"),
            },
        };
    }

    /// <summary>--arch, or <paramref name="fallback"/> when absent; rnn_relu only where <paramref name="allowRelu"/>.</summary>
    internal static RnnArch ParseArch(Args a, RnnArch fallback, bool allowRelu)
    {
        string? name = a.Get("arch");
        if (name is null) return fallback;
        if (!RnnArchInfo.TryParse(name, out var arch) || (!allowRelu && arch == RnnArch.RnnRelu))
            throw new UsageException($"--arch must be {(allowRelu ? "lstm, gru, rnn_tanh or rnn_relu" : "lstm, gru or rnn_tanh")}, got '{name}'");
        return arch;
    }

    internal static OnlineOptions ParseOnlineOptions(Args a)
    {
        var o = new OnlineOptions();
        return o with
        {
            Every = a.GetInt("online-every", o.Every),
            LearningRate = (float)a.GetDouble("online-lr", o.LearningRate),
            Batch = a.GetInt("online-batch", o.Batch),
            Replay = a.GetInt("online-replay", o.Replay),
        };
    }
}
