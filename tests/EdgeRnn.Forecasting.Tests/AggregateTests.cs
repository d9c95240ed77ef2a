using EdgeRnn.Forecasting.Backtest;
using EdgeRnn.Forecasting.Data;
using EdgeRnn.Forecasting.Experts;
using EdgeRnn.Forecasting.Intervals;

namespace EdgeRnn.Forecasting.Tests;

public class AggregateTests
{
    private static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    [Fact]
    public void Hedge_follows_the_expert_that_is_best_now_and_serves_no_worse_than_it()
    {
        // Three experts on y = noise: expert 0 is exact-ish for the first half, expert 2 for the second; expert 1 is always off.
        const int H = 3, N = 6000;
        var rng = new Random(1);
        var agg = new HedgeAggregate(3, H, 1, memory: 500);
        var y = new float[N + H + 1];
        for (int i = 0; i < y.Length; i++) y[i] = (float)Gauss(rng);
        var ex = new float[3 * H]; var served = new float[H]; var radius = new float[H];
        double seServed = 0, se0 = 0, se2 = 0; long n = 0;
        for (int t = 0; t < N; t++)
        {
            agg.Score([y[t]]);
            for (int k = 0; k < H; k++)
            {
                float truth = y[t + 1 + k];
                bool first = t < N / 2;
                ex[0 * H + k] = truth + (float)((first ? 0.1 : 1.0) * Gauss(rng));
                ex[1 * H + k] = truth + 2f;
                ex[2 * H + k] = truth + (float)((first ? 1.0 : 0.1) * Gauss(rng));
            }
            agg.Combine(ex, served, radius, record: true);
            if (t >= N / 2 + 1000)
                for (int k = 0; k < H; k++)
                {
                    float truth = y[t + 1 + k];
                    seServed += Math.Pow(served[k] - truth, 2); se0 += Math.Pow(ex[k] - truth, 2); se2 += Math.Pow(ex[2 * H + k] - truth, 2); n++;
                }
        }
        Assert.True(agg.StepWeight(0, 2) > 0.9, $"weight of the expert that is best now: {agg.StepWeight(0, 2)}");
        Assert.True(seServed <= 1.05 * se2, $"aggregate {seServed / n} vs best expert {se2 / n}");
        Assert.True(se0 > 10 * se2);
    }

    [Fact]
    public void A_forecast_never_depends_on_truth_that_arrives_after_it()
    {
        // Two aggregates see the same stream up to row T, then different truths: every forecast made at rows ≤ T is identical,
        // including those for steps whose truth lies beyond T (delayed feedback: scored only when the truth arrives).
        const int H = 5, T = 300;
        var rng = new Random(2);
        var a = new HedgeAggregate(2, H, 1); var b = new HedgeAggregate(2, H, 1);
        var ex = new float[2 * H]; var sa = new float[H]; var sb = new float[H]; var ra = new float[H]; var rb = new float[H];
        for (int t = 0; t < T + 20; t++)
        {
            float ya = (float)Gauss(rng), yb = t <= T ? ya : ya + 5;
            a.Score([ya]); b.Score([yb]);
            for (int j = 0; j < ex.Length; j++) ex[j] = (float)Gauss(rng);
            a.Combine(ex, sa, ra, true); b.Combine(ex, sb, rb, true);
            if (t <= T) { Assert.Equal(sa, sb); Assert.Equal(ra, rb); }
        }
        Assert.NotEqual(sa, sb);
    }

    [Fact]
    public void Conformal_intervals_reach_nominal_coverage_through_a_fivefold_variance_jump()
    {
        var rng = new Random(3);
        foreach (double nominal in new[] { 0.9, 0.8 })
        {
            var ci = new ConformalIntervals(1, nominal);
            long covered = 0, n = 0;
            for (int t = 0; t < 6000; t++)
            {
                double sigma = t < 3000 ? 1 : 5;
                double r = sigma * Gauss(rng);
                float q = ci.Radius(0);
                if (t >= 3500) { n++; if (Math.Abs(r) <= q) covered++; }
                ci.Observe(0, r, q);
            }
            Assert.InRange((double)covered / n, nominal - 0.02, nominal + 0.02);
            Assert.InRange(ci.RunningCoverage, nominal - 0.02, nominal + 0.02);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConformalIntervals(1, 1.5));
    }

    [Fact]
    public void Online_linear_learns_a_linear_recurrence_from_observed_windows()
    {
        // x[t+1] = 1.6 x[t] − 0.8 x[t−1] (a damped oscillation kept alive by small noise): RLS finds it, repeat-last-value does not.
        const int L = 4, H = 2;
        var m = new OnlineLinear(L, H);
        var rng = new Random(4);
        var x = new List<float> { 0, 1 };
        for (int t = 0; t < 3000; t++) x.Add((float)(1.6 * x[^1] - 0.8 * x[^2] + 0.05 * Gauss(rng)));
        var outp = new float[H];
        double se = 0, seNaive = 0; int n = 0;
        for (int t = L - 1; t + H < x.Count; t++)
        {
            var win = x.GetRange(t - L + 1, L).ToArray();
            if (t > 2000)
            {
                m.Predict(win, outp);
                se += Math.Pow(outp[0] - x[t + 1], 2); seNaive += Math.Pow(x[t] - x[t + 1], 2); n++;
            }
            m.Update(win, [x[t + 1], x[t + 2]]);
        }
        Assert.True(se / n < 0.004, $"one-step MSE {se / n} (noise variance 0.0025)");
        Assert.True(seNaive > 2 * se, $"repeat-last-value {seNaive / n} vs online linear {se / n}");
    }

    [Fact]
    public void After_a_fivefold_level_and_variance_jump_the_aggregate_ends_near_the_best_expert_and_network_inputs_stay_bounded()
    {
        // Daily cycle + noise; after the training span (row 1000) level and amplitude (and noise) jump 5×.
        const int N = 5000, Jump = 1000, H = 4;
        var rng = new Random(5);
        var x = new float[N];
        for (int t = 0; t < N; t++)
        {
            double g = t < Jump ? 1 : 5;
            x[t] = (float)(10 * g + g * (3 * Math.Sin(2 * Math.PI * t / 24) + 0.3 * Gauss(rng)));
        }
        var split = new TrainSplit(700, 699, 900 - 1 - H, 900);
        var (model, _) = HybridTrainer.Train([x], ["v"], 1, H, TimeSpan.FromHours(1), split,
            new TrainOptions { Epochs = 3, Hidden = 8, StepsPerEpoch = 20, Chunk = 48, Warmup = 8, Batch = 4, Lookback = 48, Seed = 3 });
        model.WriteMetadata("drift-test", "1");
        using var sf = new StreamForecaster(model, new StreamForecasterOptions
        { Precision = Precision.Float32, FineTune = true, BackgroundLearning = false, Online = new OnlineOptions { Every = 4 } });
        int E = sf.ExpertNames.Count;
        var f = new float[H]; var lo = new float[H]; var hi = new float[H];
        var se = new double[E + 1]; long n = 0; var sek = new double[H, E + 1]; float maxInput = 0; double inputSq = 0; long inputs = 0;
        for (int t = 0; t + H < N; t++)
        {
            sf.Observe([x[t]], f, lo, hi);
            foreach (float v in sf.NetworkInputs) { Assert.True(float.IsFinite(v)); maxInput = Math.Max(maxInput, Math.Abs(v)); }
            if (t < N - (N - Jump) / 2) continue;
            foreach (float v in sf.NetworkInputs) { inputSq += v * v; inputs++; }
            for (int k = 0; k < H; k++)
            {
                float truth = (x[t + 1 + k] - model.ChannelMean[0]) / model.ChannelStd[0];
                for (int e = 0; e < E; e++) { se[e] += Math.Pow(sf.ExpertForecasts[e * H + k] - truth, 2); sek[k, e] += Math.Pow(sf.ExpertForecasts[e * H + k] - truth, 2); }
                se[E] += Math.Pow((f[k] - model.ChannelMean[0]) / model.ChannelStd[0] - truth, 2);
                sek[k, E] += Math.Pow((f[k] - model.ChannelMean[0]) / model.ChannelStd[0] - truth, 2);
                n++;
            }
        }
        double best = se.Take(E).Min();
        Assert.True(se[E] <= 1.05 * best, $"aggregate {se[E] / n:F5} vs best expert {best / n:F5} ({string.Join(", ", sf.ExpertNames.Select((e, i) => $"{e} {se[i] / n:F5} w {sf.Aggregate!.StepWeight(0, i):F3}/{sf.Aggregate!.StepWeight(H - 1, i):F3}"))}) per step: {string.Join(" | ", Enumerable.Range(0, H).Select(k => string.Join(",", Enumerable.Range(0, E + 1).Select(e => (sek[k, e] / (n / H)).ToString("F3")))))}");
        // Every input stays within the clamp (the jump row itself hits it); once the drift scale has caught up with the 5×
        // larger differences, the inputs are back in the trained range: RMS ≤ the drift threshold (2 trained std).
        Assert.True(maxInput <= 8f, $"largest network input {maxInput}");
        Assert.InRange(Math.Sqrt(inputSq / inputs), 0.1, 2.05);
        Assert.True(sf.Model.Net.Arena.All(float.IsFinite));
    }

    [Theory]
    [InlineData("ec2_cpu_utilization_5f5533.csv", 12)]
    [InlineData("speed_6005.csv", 1)]
    public void Served_aggregate_is_no_worse_than_the_best_simple_baseline_on_a_bundled_NAB_series(string file, int horizon)
    {
        // Issue 11's rule, as `edgernn backtest --protocol online` measures it (default training, int8 with fine-tuning):
        // the served aggregate's MSE ≤ min(naive, seasonal_naive, linear, nlinear, edgernn_int8_frozen), and the intervals
        // cover 0.88–0.92 at nominal 0.90. Measured: ec2 H=12 0.321 against 0.602 (frozen), speed H=1 0.806 against 0.914.
        // (The series where the rule is tight or not met, nyc_taxi at 24 and 48, are in the issue note: too slow for CI.)
        var table = SeriesTable.Load(Path.Combine(TestData.Root, "models", "data", "nab", file));
        var r = BacktestRunner.Run(table, new BacktestOptions { Protocol = "online", Target = "value", Horizon = horizon });
        double served = r.Results["edgernn_int8"].Mse;
        var baselines = new[] { "naive", "seasonal_naive", "linear", "nlinear", "edgernn_int8_frozen" };
        string best = baselines.MinBy(b => r.Results[b].Mse)!;
        Assert.True(served <= r.Results[best].Mse, $"{file} H={horizon}: edgernn_int8 {served:F5} vs {best} {r.Results[best].Mse:F5}");
        Assert.InRange(r.Results["edgernn_int8"].Coverage!.Value, 0.88, 0.92);
    }
}

public class ForecastCsvIntervalTests
{
    [Fact]
    public void Forecast_csv_with_intervals_adds_lower_and_upper_columns_around_the_served_values()
    {
        var x = TestData.Drifting(1200, 10_000, 11);
        var split = new TrainSplit(700, 699, 900 - 1 - 3, 900);
        var (model, _) = HybridTrainer.Train([x], ["v"], 1, 3, TimeSpan.FromHours(1), split,
            new TrainOptions { Epochs = 1, Hidden = 4, StepsPerEpoch = 5, Chunk = 48, Warmup = 8, Batch = 2, Lookback = 48, Seed = 3 });
        model.WriteMetadata("csv-test", "1");
        var table = TestData.Table(("v", x));
        var plain = new StringWriter(); var withIntervals = new StringWriter();
        int rows = ForecastCsv.Write(model, Precision.Float32, table, plain);
        Assert.Equal(rows, ForecastCsv.Write(model, Precision.Float32, table, withIntervals, coverage: 0.9));
        var lines = withIntervals.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int o = table.TimeText is null ? 0 : 1; // the time column, when the table has its text
        Assert.EndsWith("v@1,v@2,v@3,v@1:lower,v@2:lower,v@3:lower,v@1:upper,v@2:upper,v@3:upper", lines[0]);
        Assert.EndsWith(",v@3", plain.ToString().Split('\n')[0]); // without --intervals: unchanged
        long inside = 0, n = 0;
        for (int r = 1; r < lines.Length; r++)
        {
            var cells = lines[r].Split(',');
            Assert.Equal(9 + o, cells.Length);
            for (int k = 0; k < 3; k++)
            {
                if (cells[o + 3 + k].Length == 0) continue; // no residual yet
                float v = float.Parse(cells[o + k], System.Globalization.CultureInfo.InvariantCulture);
                float lo = float.Parse(cells[o + 3 + k], System.Globalization.CultureInfo.InvariantCulture);
                float hi = float.Parse(cells[o + 6 + k], System.Globalization.CultureInfo.InvariantCulture);
                Assert.True(lo <= v && v <= hi);
                int row = 48 - 1 + (r - 1); // forecasts start once the lookback (48) is full
                if (row + 1 + k < x.Length && row > 600) { n++; if (x[row + 1 + k] >= lo && x[row + 1 + k] <= hi) inside++; }
            }
        }
        Assert.InRange((double)inside / n, 0.85, 0.95);
    }
}
