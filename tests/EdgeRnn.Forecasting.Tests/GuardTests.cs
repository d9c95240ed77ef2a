using EdgeRnn.Forecasting.Data;

namespace EdgeRnn.Forecasting.Tests;

public class GuardTests
{
    /// <summary>A daily cycle plus Gaussian noise (σ = <paramref name="noise"/>); from <paramref name="shiftFrom"/> on the level jumps by 6 and the cycle changes shape.</summary>
    private static float[] Series(int n, int shiftFrom, double noise, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int t = 0; t < n; t++)
        {
            double phase = 2 * Math.PI * t / 24;
            double shape = t < shiftFrom ? Math.Sin(phase) : 0.4 * Math.Sin(phase) + 0.9 * Math.Sin(2 * phase + 1);
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            x[t] = (float)(10 + (t < shiftFrom ? 0 : 6) + 3 * shape + noise * g);
        }
        return x;
    }

    private static HybridModel Train(float[] x, int horizon)
    {
        var split = new TrainSplit(600, 599, 800 - 1 - horizon, 800);
        var (m, _) = HybridTrainer.Train([x], ["v"], 1, horizon, TimeSpan.FromHours(1), split,
            new TrainOptions { Epochs = 3, Hidden = 8, StepsPerEpoch = 20, Chunk = 48, Warmup = 8, Batch = 4, Lookback = 48, Seed = 3 });
        m.WriteMetadata("guard-test", "1");
        return m;
    }

    /// <summary>MSE of the H-step forecasts made at rows [from, to) (raw units), learning enabled from row 800.</summary>
    private static double Mse(HybridModel model, float[] x, bool fineTune, bool guard, int from, int to, out StreamForecaster sfOut)
    {
        var online = new OnlineOptions { Every = 2, LearningRate = 1e-2f, Guard = guard }; // aggressive on purpose: it chases noise
        var sf = new StreamForecaster(model, new StreamForecasterOptions { Precision = Precision.Float32, FineTune = fineTune, BackgroundLearning = false, Online = online });
        int h = model.Horizon;
        var f = new float[h];
        double se = 0; long n = 0;
        sf.LearningEnabled = false;
        for (int t = 0; t < to; t++)
        {
            if (t == 800) sf.LearningEnabled = true;
            sf.Observe([x[t]], f);
            if (t < from || t + h >= x.Length) continue;
            for (int k = 0; k < h; k++) { double e = f[k] - x[t + 1 + k]; se += e * e; n++; }
        }
        sfOut = sf;
        return se / n;
    }

    [Fact]
    public void Guard_keeps_a_stable_series_from_getting_worse_and_still_adapts_after_a_shift()
    {
        const int shift = 5000, n = 7000, h = 6;
        var x = Series(n, shift, noise: 1.0, seed: 11);
        var model = Train(x, h);

        // Stable part: aggressive naive fine-tuning chases the noise and is worse than the shipped model.
        double frozen = Mse(model, x, fineTune: false, guard: false, 1000, shift, out var a);
        double naive = Mse(model, x, fineTune: true, guard: false, 1000, shift, out var b);
        double guarded = Mse(model, x, fineTune: true, guard: true, 1000, shift, out var c);
        a.Dispose(); b.Dispose(); c.Dispose();
        Assert.True(naive > 1.01 * frozen, $"setup: naive fine-tuning {naive} should be worse than frozen {frozen} on a stable series");
        Assert.True(guarded < 1.005 * frozen, $"guarded {guarded} vs frozen {frozen} (naive {naive})");

        // After the level shift and change of shape, the guard serves the fine-tuned model once it is better
        // (the learner itself is never held back, so it adapts exactly as fast as without the guard).
        double frozenAfter = Mse(model, x, fineTune: false, guard: false, shift + 500, n, out a);
        double naiveAfter = Mse(model, x, fineTune: true, guard: false, shift + 500, n, out b);
        double guardedAfter = Mse(model, x, fineTune: true, guard: true, shift + 500, n, out c);
        Assert.True(naiveAfter < 0.5 * frozenAfter, $"setup: naive fine-tuning {naiveAfter} should beat frozen {frozenAfter} after the drift");
        Assert.True(guardedAfter < 0.5 * frozenAfter && guardedAfter < 1.01 * naiveAfter, $"guarded {guardedAfter} vs frozen {frozenAfter} after the drift (naive {naiveAfter})");
        Assert.True(c.Guard!.Weight > 0.5f, $"served weight of the tuned model {c.Guard.Weight}");
        a.Dispose(); b.Dispose(); c.Dispose();
    }

    [Fact]
    public void Weight_follows_the_better_model_causally()
    {
        const int h = 3, rows = 2000;
        var std = new float[] { 1 };
        var skip = new float[h];
        var rng = new Random(5);
        var y = new float[rows + h + 1];
        for (int i = 0; i < y.Length; i++) y[i] = (float)(rng.NextDouble() - 0.5);
        // Row t forecasts y[t+1..t+h]. Phase 1 (t < 1000): the frozen model is exact, the tuned one is off by noise.
        // Phase 2: the frozen model is off by a bias the tuned model has learned away.
        float[] Run(float[] truth) // the forecasts come from y; only the truth scored is truth
        {
            var g = new ForecastGuard(h, 1, memory: 64);
            var weights = new float[rows];
            var tuned = new float[h]; var frozen = new float[h]; var served = new float[h];
            var r = new Random(6);
            for (int t = 0; t < rows; t++)
            {
                g.Score([truth[t]]);
                for (int k = 0; k < h; k++)
                {
                    float target = y[t + 1 + k];
                    frozen[k] = t < 1000 ? target : target + 1f;
                    tuned[k] = t < 1000 ? target + (float)(r.NextDouble() - 0.5) : target + 0.1f * (float)(r.NextDouble() - 0.5);
                    served[k] = tuned[k];
                }
                g.Serve(tuned, frozen, skip, std, served, record: true);
                weights[t] = g.Weight;
                float w = g.Weight;
                for (int k = 0; k < h; k++) Assert.Equal(frozen[k] + w * (tuned[k] - frozen[k]), served[k], 1e-5f);
            }
            return weights;
        }
        var w1 = Run(y);
        Assert.InRange(w1[999], 0f, 0.05f);
        Assert.InRange(w1[1000 + h + 200], 0.9f, 1f);
        // Strictly causal: changing the truth from row 1500 on changes no weight before row 1500 (and the one at 1500 does change).
        var y2 = (float[])y.Clone();
        for (int i = 1500; i < y2.Length; i++) y2[i] += 3;
        var w2 = Run(y2);
        for (int t = 0; t < 1500; t++) Assert.Equal(w1[t], w2[t]);
        Assert.NotEqual(w1[1500], w2[1500]);
    }

    [Fact]
    public void Guard_state_round_trips_and_a_version_1_checkpoint_still_loads()
    {
        var x = Series(2000, 1500, noise: 0.3, seed: 12);
        var model = Train(x, 4);
        StreamForecaster Make(bool guard) => new(model.Clone(), new StreamForecasterOptions
        {
            Precision = Precision.Float32, FineTune = true, BackgroundLearning = false, Online = new OnlineOptions { Every = 4, Guard = guard },
        });
        using var a = Make(true);
        var f = new float[4];
        for (int t = 0; t < 1800; t++) a.Observe([x[t]], f);
        Assert.InRange(a.Stats.TunedWeight, 0, 1);
        Assert.Equal(a.Guard!.Weight, a.Stats.TunedWeight);

        // Version 2 (with the guard): the resumed stream serves the same blend.
        var ms = new MemoryStream();
        a.WriteCheckpoint(ms);
        using var b = Make(true);
        ms.Position = 0;
        b.ReadCheckpoint(ms);
        Assert.Equal(a.Guard.Weight, b.Guard!.Weight);
        Assert.Equal(a.Guard.TunedVsFrozen, b.Guard.TunedVsFrozen);
        var fa = new float[4]; var fb = new float[4];
        for (int t = 1800; t < 1803; t++) { a.Observe([x[t]], fa); b.Observe([x[t]], fb); Assert.Equal(fa, fb); }

        // Version 1 = a checkpoint without the guard trailer: it loads, the guard starts without evidence (shipped weights served).
        using var old = Make(false);
        for (int t = 0; t < 1800; t++) old.Observe([x[t]], f);
        var v2 = new MemoryStream();
        old.WriteCheckpoint(v2);
        byte[] bytes = v2.ToArray();
        Assert.Equal(0, bytes[^1]); // the trailer of a guard-less forecaster is one 'false'
        var v1 = bytes[..^1];
        BitConverter.GetBytes(1).CopyTo(v1, 4);
        using var c = Make(true);
        c.ReadCheckpoint(new MemoryStream(v1));
        Assert.Equal(0f, c.Guard!.Weight);
        Assert.True(double.IsNaN(c.Guard.TunedVsFrozen));
        Assert.Equal(old.Stats.Updates, c.Stats.Updates);
        c.Observe([x[1800]], f);
        foreach (float v in f) Assert.True(float.IsFinite(v));
    }
}
