using EdgeRnn.Ingest;
using EdgeRnn.Forecasting.Baselines;
using EdgeRnn.Forecasting.Data;

namespace EdgeRnn.Forecasting.Backtest;

public sealed record BacktestOptions
{
    public required string Protocol { get; init; }        // "ltsf" | "online"
    public required string Target { get; init; }          // "OT", "a,b" or "all"
    public string? Features { get; init; }                // extra input channels (comma list or "all")
    public required int Horizon { get; init; }
    public int? Season { get; init; }
    public TimeSpan? Period { get; init; }
    /// <summary>Lookback of the linear baselines and the skip path (DLinear's seq_len).</summary>
    public int Lookback { get; init; } = 336;
    public TrainOptions Train { get; init; } = new();
    public OnlineOptions Online { get; init; } = new();
    /// <summary>Skip int8 rows (only when the build lacks int8 inference).</summary>
    public bool Int8 { get; init; } = true;
    /// <summary>Nominal coverage of the served prediction intervals.</summary>
    public double Coverage { get; init; } = 0.9;
    /// <summary>Score this model instead of training one (its targets, features and horizon replace Target, Features and Horizon).</summary>
    public HybridModel? Model { get; init; }
    /// <summary>Receives the served forecaster's windows in sensor units (backtest --output, --plot); null: none kept.</summary>
    public IBacktestWindowSink? Windows { get; init; }
}

/// <summary>
/// Both protocols on one table: every method is scored on exactly the same forecast windows, normalized with the z-score
/// of the training rows. ltsf follows the DLinear code (ETT borders 12/4/4 months; 70/10/20 by rows otherwise);
/// online trains on the first 20 %, validates on the next 5 %, then forecasts and learns one sample at a time.
/// </summary>
public static class BacktestRunner
{
    public static BacktestReport Run(SeriesTable table, BacktestOptions o, TextWriter? progress = null)
    {
        var given = o.Model;
        if (given is not null && given.IsNetworkOnly) throw new ArgumentException("backtest --model needs an EdgeRnn forecaster file (v2 or v1), not a network-only file");
        int horizon = given?.Horizon ?? o.Horizon;
        if (horizon < 1) throw new ArgumentException("--horizon must be at least 1");
        int[] targets = given is null ? table.Resolve(o.Target) : given.Targets.Select(table.IndexOf).ToArray();
        var channelIdx = new List<int>(targets);
        if (given is not null) channelIdx = given.Channels.Select(table.IndexOf).ToList();
        else if (o.Features is not null)
            foreach (int f in table.Resolve(o.Features)) if (!channelIdx.Contains(f)) channelIdx.Add(f);
        string[] channels = channelIdx.Select(i => table.Names[i]).ToArray();
        float[][] raw = channelIdx.Select(i => table.Columns[i]).ToArray();
        int n = table.Rows, C = targets.Length, H = horizon;
        TimeSpan? period = o.Period ?? SeriesPrep.DetectSamplePeriod(table.Times);

        // Splits.
        int trainEnd, valEnd, testStart, testEnd;
        if (o.Protocol == "ltsf")
        {
            long month = period is { } p && p > TimeSpan.Zero && TimeSpan.TicksPerDay % p.Ticks == 0 ? 30 * (TimeSpan.TicksPerDay / p.Ticks) : 0;
            if (month > 0 && n >= 20 * month)
            {
                trainEnd = (int)(12 * month); valEnd = (int)(16 * month); testStart = valEnd; testEnd = (int)(20 * month);
            }
            else
            {
                trainEnd = (int)(n * 0.7); testStart = n - (int)(n * 0.2); valEnd = testStart; testEnd = n;
            }
        }
        else if (o.Protocol == "online")
        {
            trainEnd = (int)(n * 0.2); valEnd = (int)(n * 0.25); testStart = valEnd; testEnd = n;
        }
        else throw new ArgumentException($"--protocol must be ltsf or online, got '{o.Protocol}'");

        int lookback = Math.Min(o.Lookback, trainEnd / 4);
        int firstWindow = Math.Max(testStart - 1, lookback - 1), lastWindow = testEnd - 1 - H;
        if (lastWindow < firstWindow) throw new ArgumentException($"{table.Source}: too few rows ({n}) for horizon {H} under the {o.Protocol} protocol");
        int valFrom = Math.Max(trainEnd - 1, lookback - 1), valTo = valEnd - 1 - H;
        if (valTo < valFrom) throw new ArgumentException($"{table.Source}: the validation part is shorter than the horizon {H}");

        // Normalized truth and filled inputs of the targets (z-score of training rows).
        var zt = new float[C][]; var zf = new float[C][];
        var zMean = new float[C]; var zStd = new float[C];
        for (int c = 0; c < C; c++) (zMean[c], zStd[c]) = SeriesPrep.FitZScore(raw[c].AsSpan(0, trainEnd));
        var zScaler = new ChannelScaler(zMean, zStd, null, InputTransform.Level, C);
        for (int c = 0; c < C; c++)
        {
            zt[c] = zScaler.Normalize(c, raw[c]);
            zf[c] = MissingValues.ForwardFill(zt[c]);
        }
        int season = o.Season ?? SeriesPrep.DetectSeason(zf[0].AsSpan(0, trainEnd), period);
        var report = new BacktestReport
        {
            Data = Path.GetFileName(table.Source), Protocol = o.Protocol, Target = given is null ? o.Target : string.Join(",", given.Targets), Horizon = H,
            Season = season, Lookback = lookback, Windows = lastWindow - firstWindow + 1,
        };
        var truth = new float[H * C];
        void Truth(int t) { for (int k = 0; k < H; k++) for (int c = 0; c < C; c++) truth[k * C + c] = zt[c][t + 1 + k]; }

        // EdgeRnn first (the slow part, unless a model is given), then the baselines on the same windows.
        HybridModel model;
        if (given is not null)
        {
            model = given.Clone();
            progress?.WriteLine($"scoring the given model {model.Metadata.GetValueOrDefault("name", "?")} (no training): targets {string.Join(",", model.Targets)}, horizon {H}");
        }
        else
        {
            progress?.WriteLine($"training EdgeRnn ({o.Train.Arch}, hidden {o.Train.Hidden}, skip {o.Train.Skip}, inputs {o.Train.Transform}) on rows [0, {trainEnd}), validating on forecasts at rows [{valFrom}, {valTo}]");
            (model, var rep) = HybridTrainer.Train(raw, channels, C, H, period, new TrainSplit(trainEnd, valFrom, valTo, valEnd),
                o.Train with { Lookback = lookback }, progress);
            report.TrainSeconds = rep.Seconds;
            report.TrainSamplesPerSecond = rep.SamplesPerSecond;
            progress?.WriteLine($"trained in {rep.Seconds:F1} s ({rep.SamplesPerSecond:F0} samples/s), best epoch {rep.BestEpoch}, skip shrink {rep.SkipShrink:F2}, val mse {rep.BestValMse:F5} (skip path alone {rep.SkipOnlyValMse:F5})");
            model.WriteMetadata("backtest", "0");
        }

        // The served forecaster (the online aggregate, with fine-tuning under the online protocol) and the shipped network
        // alone (frozen, no aggregate) under the online protocol, for comparison.
        model.Net.Metadata["edgernn.season"] = season.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var variants = new List<(string Name, Precision P, bool Tune, bool Aggregate)>();
        bool online = o.Protocol == "online";
        bool int8 = o.Int8 && NetworkFactory.Supports(Precision.Int8);
        variants.Add(("edgernn_float32", Precision.Float32, online, true));
        if (int8) variants.Add(("edgernn_int8", Precision.Int8, online, true));
        if (online || given is not null) // a given model is also scored alone: what its model card reports
        {
            if (int8) variants.Add(("edgernn_int8_frozen", Precision.Int8, false, false));
            variants.Add(("edgernn_float32_frozen", Precision.Float32, false, false));
        }
        string expertsFrom = int8 ? "edgernn_int8" : "edgernn_float32";
        var sample = new float[channels.Length];
        var fc = new float[H * C]; var lo = new float[H * C]; var hi = new float[H * C];
        foreach (var (name, precision, tune, aggregate) in variants)
        {
            var acc = new ScoreAccumulator();
            using var sf = new StreamForecaster(model, new StreamForecasterOptions
            {
                Precision = precision, FineTune = tune, BackgroundLearning = false, Online = o.Online, Aggregate = aggregate,
                Coverage = o.Coverage,
            });
            bool experts = aggregate && name == expertsFrom;
            var expertAcc = experts ? sf.ExpertNames.Select(_ => new ScoreAccumulator()).ToArray() : [];
            sf.LearningEnabled = false; // learning starts with the test stream: train and validation are the offline part
            sf.AggregateScoring = false; // the aggregate learns from out-of-sample forecasts only: from the validation rows on
            var sink = name == expertsFrom ? o.Windows : null;   // expertsFrom is the served variant
            sink?.Begin(name, channels[..C], H, aggregate);
            for (int t = 0; t <= lastWindow; t++)
            {
                if (t == testStart) sf.LearningEnabled = true;
                if (t == trainEnd) sf.AggregateScoring = true;
                for (int i = 0; i < sample.Length; i++) sample[i] = raw[i][t];
                sf.Observe(sample, fc, lo, hi);
                if (t < firstWindow) continue;
                sink?.Window(t, fc, lo, hi);
                for (int k = 0; k < H; k++)
                    for (int c = 0; c < C; c++)
                    {
                        int j = k * C + c;
                        fc[j] = model.Scaler.Normalize(c, fc[j]); lo[j] = model.Scaler.Normalize(c, lo[j]); hi[j] = model.Scaler.Normalize(c, hi[j]);
                    }
                Truth(t);
                acc.Add(fc, truth);
                if (aggregate) acc.AddInterval(lo, hi, truth);
                for (int e = 0; e < expertAcc.Length; e++) expertAcc[e].Add(sf.ExpertForecasts.Slice(e * H * C, H * C), truth);
            }
            report.Results[name] = acc.Result;
            for (int e = 0; e < expertAcc.Length; e++) report.Results["expert_" + sf.ExpertNames[e]] = expertAcc[e].Result;
            if (experts)
            {
                var agg = sf.Aggregate!;
                foreach (var (en, e) in sf.ExpertNames.Select((en, e) => (en, e)))
                    report.ExpertWeights[en] = Enumerable.Range(0, H).Select(k => Math.Round(agg.StepWeight(k, e), 4)).ToArray();
            }
            if (tune && name == "edgernn_float32") { report.OnlineUpdates = sf.Stats.Updates; report.OnlineRollbacks = sf.Stats.Rollbacks; }
            progress?.WriteLine($"{name}: mse {acc.Result.Mse:F5}{(aggregate ? $" coverage {acc.Result.Coverage:F3}" : "")}{(tune ? $" (updates {sf.Stats.Updates}, rollbacks {sf.Stats.Rollbacks}, skipped {sf.Stats.RejectedSamples})" : "")}");
        }

        // Baselines.
        var naive = new ScoreAccumulator(); var snaive = new ScoreAccumulator();
        var lin = new ScoreAccumulator(); var nlin = new ScoreAccumulator();
        var linear = LinearSkip.Fit(zf, zt, trainEnd, lookback, H, relative: false);
        var nlinear = LinearSkip.Fit(zf, zt, trainEnd, lookback, H, relative: true);
        var outL = new float[H]; var f1 = new float[H * C]; var f2 = new float[H * C]; var f3 = new float[H * C]; var f4 = new float[H * C];
        for (int t = firstWindow; t <= lastWindow; t++)
        {
            Truth(t);
            for (int c = 0; c < C; c++)
            {
                float[] z = zf[c];
                for (int k = 0; k < H; k++)
                {
                    f1[k * C + c] = z[t];
                    int back = season * ((k + season) / season); // the latest same-phase value at or before t
                    f2[k * C + c] = t + 1 + k - back >= 0 ? z[t + 1 + k - back] : z[t];
                }
                var win = z.AsSpan(t - lookback + 1, lookback);
                linear.Predict(win, outL); for (int k = 0; k < H; k++) f3[k * C + c] = outL[k];
                nlinear.Predict(win, outL); for (int k = 0; k < H; k++) f4[k * C + c] = outL[k];
            }
            naive.Add(f1, truth); snaive.Add(f2, truth); lin.Add(f3, truth); nlin.Add(f4, truth);
        }
        report.Results["naive"] = naive.Result;
        report.Results["seasonal_naive"] = snaive.Result;
        report.Results["linear"] = lin.Result;
        report.Results["nlinear"] = nlin.Result;
        return report;
    }
}
