using System.Diagnostics;
using EdgeRnn.Forecasting.Data;
using EdgeRnn.Model;

namespace EdgeRnn.Forecasting.Tests;

public class StreamForecasterTests
{
    private static HybridModel TrainSmall(float[] x, int horizon = 4, int seed = 1)
    {
        var split = new TrainSplit(600, 599, 800 - 1 - horizon, 800);
        var (m, _) = HybridTrainer.Train([x], ["v"], 1, horizon, TimeSpan.FromHours(1), split,
            new TrainOptions { Epochs = 2, Hidden = 8, StepsPerEpoch = 10, Chunk = 48, Warmup = 8, Batch = 4, Lookback = 48, Seed = seed });
        m.WriteMetadata("test", "7");
        return m;
    }

    [Fact]
    public void Training_is_deterministic_for_a_seed()
    {
        var x = TestData.Drifting(1000, 10_000, 3);
        Assert.Equal(TrainSmall(x).Net.Arena, TrainSmall(x).Net.Arena);
        Assert.NotEqual(TrainSmall(x).Net.Arena, TrainSmall(x, seed: 2).Net.Arena);
    }

    [Fact]
    public void Model_file_round_trips_and_loads_strictly_in_pytorch()
    {
        var x = TestData.Drifting(1000, 10_000, 4);
        var model = TrainSmall(x);
        string dir = Directory.CreateTempSubdirectory("edgernn-fc").FullName;
        string path = Path.Combine(dir, "m.safetensors");
        model.Save(path);
        var back = HybridModel.Load(path);
        Assert.Equal(model.Net.Arena, back.Net.Arena);
        Assert.Equal(model.Skip!.Weight, back.Skip!.Weight);
        Assert.Equal(["v"], back.Targets);
        Assert.Equal(4, back.Horizon);
        Assert.Equal(TimeSpan.FromHours(1), back.SamplePeriod);

        using var a = new StreamForecaster(model, new StreamForecasterOptions { Precision = Precision.Float32 });
        using var b = StreamForecaster.Load(path, Precision.Float32, fineTune: false);
        Assert.Equal("test", b.ModelName);
        Assert.Equal("7", b.ModelVersion);
        var fa = new float[4]; var fb = new float[4];
        var io = new System.Text.StringBuilder("{\"inputs\":[");
        var net = new FloatForecaster(back.Net);
        var outs = new List<float[]>();
        for (int t = 0; t < 200; t++)
        {
            a.Observe([x[t]], fa);
            b.Observe([x[t]], fb);
            Assert.Equal(fa, fb);
            // The network part alone, as `edgernn predict` and PyTorch see the file (a v2 network has no normalization of its own).
            float input = t == 0 ? 0 : x[t] - x[t - 1];
            var o = new float[4];
            net.Step([input], o);
            outs.Add(o);
            io.Append(t == 0 ? "" : ",").Append('[').Append(input.ToString("R", System.Globalization.CultureInfo.InvariantCulture)).Append(']');
        }
        io.Append("],\"outputs\":[").Append(string.Join(",", outs.Select(o => "[" + string.Join(",", o.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + "]"))).Append("]}");
        string ioPath = Path.Combine(dir, "io.json");
        File.WriteAllText(ioPath, io.ToString());
        string python = Environment.GetEnvironmentVariable("EDGERNN_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(TestData.Root, "tests", "EdgeRnn.Forecasting.Tests", "python", "check_model.py"));
        psi.ArgumentList.Add(path);
        psi.ArgumentList.Add(ioPath);
        using var proc = Process.Start(psi)!;
        string stdout = proc.StandardOutput.ReadToEnd(), stderr = proc.StandardError.ReadToEnd();
        proc.WaitForExit();
        Assert.True(proc.ExitCode == 0, stdout + stderr);
    }

    [Fact]
    public void Nan_stretch_and_level_shift_do_not_diverge()
    {
        var x = TestData.Drifting(3000, 10_000, 6);
        var model = TrainSmall(x);
        using var sf = new StreamForecaster(model, new StreamForecasterOptions
        {
            Precision = Precision.Float32, FineTune = true, BackgroundLearning = false,
            Online = new OnlineOptions { Every = 2, LearningRate = 1e-2f }, // aggressive on purpose
        });
        var f = new float[4];
        double errAfter = 0; int nAfter = 0;
        for (int t = 0; t < 3000; t++)
        {
            float v = x[t];
            if (t is >= 1000 and < 1100) v = float.NaN;      // a sensor outage
            if (t >= 1500) v += 40;                          // a sudden level shift (≈ 20 std)
            if (t == 1700) v = 1e30f;                        // one wild value
            sf.Observe([v], f);
            foreach (float y in f) Assert.True(float.IsFinite(y), $"non-finite forecast at row {t}");
            if (t >= 2500 && t + 1 < 3000) { errAfter += Math.Abs(f[0] - (x[t + 1] + 40)); nAfter++; }
        }
        var s = sf.Stats;
        Assert.True(s.Updates > 100, $"updates {s.Updates}");
        Assert.True(s.RejectedSamples >= 100, $"rejected {s.RejectedSamples}"); // the all-NaN rows are counted
        foreach (float w in sf.Model.Net.Arena) Assert.True(float.IsFinite(w));
        // Once the shift is history, one-step forecasts track the new level (noise amplitude 0.1, cycle amplitude 3).
        Assert.InRange(errAfter / nAfter, 0, 1.5);
    }

    [Fact]
    public void Checkpoint_resumes_exactly()
    {
        var x = TestData.Drifting(1600, 900, 7);
        var model = TrainSmall(x);
        var opts = new StreamForecasterOptions { Precision = Precision.Float32, FineTune = true, BackgroundLearning = false, Online = new OnlineOptions { Every = 4 } };
        using var a = new StreamForecaster(model, opts);
        var f = new float[4];
        for (int t = 0; t < 1200; t++) a.Observe([x[t]], f);
        var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) a.WriteCheckpoint(w);
        using var b = new StreamForecaster(model.Clone(), opts);
        ms.Position = 0;
        using (var r = new BinaryReader(ms, System.Text.Encoding.UTF8, leaveOpen: true)) b.ReadCheckpoint(r, a.CheckpointVersion);
        var fa = new float[4]; var fb = new float[4];
        Assert.Equal(a.Stats.Updates, b.Stats.Updates);
        // Until the next update (every 4 rows) the resumed stream is the same stream: weights, state, lookback, history.
        // After it they drift apart slightly: Adam's moments and the replay sampler are not checkpointed.
        for (int t = 1200; t < 1203; t++)
        {
            a.Observe([x[t]], fa);
            b.Observe([x[t]], fb);
            Assert.Equal(fa, fb);
        }
        for (int t = 1203; t < 1300; t++) { a.Observe([x[t]], fa); b.Observe([x[t]], fb); }
        Assert.True(b.Stats.Updates > a.Stats.Updates - 30 && b.Stats.Updates > 0);
        for (int k = 0; k < 4; k++) Assert.InRange(fa[k] - fb[k], -0.5f, 0.5f);
        Assert.Throws<InvalidDataException>(() => b.ReadCheckpoint(new BinaryReader(new MemoryStream([1, 2, 3, 4, 5, 6, 7, 8])), 4));
        Assert.Throws<InvalidDataException>(() => b.ReadCheckpoint(new BinaryReader(new MemoryStream([255, 255, 255, 127, 5, 6, 7, 8])), 3));
    }

    [Fact]
    public void Background_learner_updates_without_blocking_observe()
    {
        var x = TestData.Drifting(4000, 900, 8);
        var model = TrainSmall(x);
        using var sf = new StreamForecaster(model, new StreamForecasterOptions { Precision = Precision.Float32, FineTune = true, BackgroundLearning = true });
        var f = new float[4];
        for (int t = 0; t < 4000; t++) { sf.Observe([x[t]], f); if (t % 200 == 0) Thread.Sleep(5); }
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (sf.Stats.Updates == 0 && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.True(sf.Stats.Updates > 0);
        foreach (float y in f) Assert.True(float.IsFinite(y));
    }

    [Theory]
    [InlineData(Precision.Float32)]
    [InlineData(Precision.Int8)]
    public void Observe_allocates_nothing_with_the_background_learner_running(Precision precision)
    {
        var x = TestData.Drifting(3000, 900, 9);
        var model = TrainSmall(x);
        using var sf = new StreamForecaster(model, new StreamForecasterOptions { Precision = precision, FineTune = true, BackgroundLearning = true });
        var f = new float[4];
        var sample = new float[1];
        for (int t = 0; t < 1000; t++) { sample[0] = x[t]; sf.Observe(sample, f); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int t = 1000; t < 3000; t++) { sample[0] = t % 500 == 0 ? float.NaN : x[t]; sf.Observe(sample, f); }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(precision, sf.Precision);
    }
}
