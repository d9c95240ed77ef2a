using System.Diagnostics;
using System.Globalization;
using EdgeRnn.Forecasting;
using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn bench --streams N [--fine-tune on|off] [--hidden H] [--runs R]: sustained stream-steps per second on one core for
/// N streams of one int8 model (LSTM, 8 inputs, 24 outputs), each stream with its own inputs and state.
/// Fine-tuning off: the N streams stepped one by one (N Int8Forecasters, each with the weights it quantized itself, as
/// the daemon's streams had them before shared-model batching; and, to separate what sharing the weights alone gives,
/// N Int8Forecasters over one Int8Weights) against <see cref="Int8Forecaster.Batch"/> (one product per layer per step
/// for all N). Fine-tuning on: every stream learns its own weights, so its tuned network shares nothing; what the daemon
/// runs per sample is the tuned network, the frozen shipped network (the aggregate's reference expert: the same model
/// for every stream, so batched) and one learner update (<see cref="OnlineTuner.Learn"/> and the re-quantization) every
/// <see cref="OnlineOptions.Every"/> samples. The learner's update is timed on its own and charged per sample.
/// </summary>
internal static class BenchStreams
{
    public static int Run(int streams, bool fineTune, int hidden, int runs)
    {
        if (streams < 1) throw new UsageException("--streams must be at least 1");
        int inputs = BenchCommand.Inputs, outputs = BenchCommand.Outputs;
        var p = SelfTestCommand.SyntheticModel(RnnArch.Lstm, inputs, hidden, 1, outputs);
        // [64 steps, N streams, In]: every stream its own phase and scale
        const int Steps = 64;
        var x = new float[Steps * streams * inputs];
        for (int t = 0; t < Steps; t++)
            for (int s = 0; s < streams; s++)
                for (int j = 0; j < inputs; j++)
                    x[(t * streams + s) * inputs + j] = MathF.Sin(0.05f * t * (j + 1) + s) * (1 + 0.3f * j) * (1 + s % 7);
        var y = new float[streams * outputs];

        var own = new Int8Forecaster[streams];
        for (int s = 0; s < streams; s++) own[s] = new Int8Forecaster(p);
        var batch = new Int8Forecaster.Batch(p, streams);
        Console.WriteLine($"kernel path: {Int8Kernels.Active.PathName}; code: {BenchCommand.CodeKind}");
        Console.WriteLine($"LSTM int8, {inputs} inputs, hidden {hidden}, {outputs} outputs; {streams} streams of one model, each its own inputs and state; one core; median of {runs} runs, the ways taking turns");

        if (!fineTune)
        {
            var shared = new Int8Forecaster[streams];
            for (int s = 0; s < streams; s++) { shared[s] = new Int8Forecaster(p); shared[s].SwapWeights(batch.Weights); }
            var r = Time([t => RoundOneByOne(own, x, y, t, streams), t => RoundOneByOne(shared, x, y, t, streams),
                t => batch.StepAll(x.AsSpan(t * streams * inputs, streams * inputs), y)], runs, streams);
            Result oneByOne = r[0], sharedW = r[1], batched = r[2];
            Console.WriteLine("fine-tuning off                                              stream-steps/s   ns/stream-step   alloc B/step");
            Print("one by one: N Int8Forecasters, each its own weights", oneByOne);
            Print("one by one: N Int8Forecasters sharing one Int8Weights", sharedW);
            Print("batched: Int8Forecaster.Batch, one product per layer", batched);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"batched / one by one: {oneByOne.NsPerStreamStep / batched.NsPerStreamStep:F2}x   batched / one by one over shared weights: {sharedW.NsPerStreamStep / batched.NsPerStreamStep:F2}x"));
            return 0;
        }

        // Fine-tuning on: each stream's tuned network has its own weights (one by one); the frozen network is the shared model.
        var frozenOwn = new Int8Forecaster[streams];
        for (int s = 0; s < streams; s++) frozenOwn[s] = new Int8Forecaster(p);
        var rr = Time([t => RoundOneByOne(own, x, y, t, streams), t => RoundOneByOne(frozenOwn, x, y, t, streams),
            t => batch.StepAll(x.AsSpan(t * streams * inputs, streams * inputs), y)], runs, streams);
        Result tunedOneByOne = rr[0], frozenOneByOne = rr[1], frozenBatched = rr[2];
        var online = new OnlineOptions();
        var (learnNs, updates) = TimeLearner(p, online, Math.Min(streams, 4), runs);
        double learnPerSample = learnNs / online.Every;
        double before = tunedOneByOne.NsPerStreamStep + frozenOneByOne.NsPerStreamStep + learnPerSample;
        double design = tunedOneByOne.NsPerStreamStep + frozenBatched.NsPerStreamStep + learnPerSample;
        Console.WriteLine($"fine-tuning on: each stream learns its own weights; per sample the daemon steps the tuned network (own weights), the frozen shipped");
        Console.WriteLine($"network (the aggregate's reference: the shared model) and, every {online.Every} samples, one learner update ({online.Batch} windows of {online.Warmup}+{online.Chunk} steps,");
        Console.WriteLine("float32 BPTT: a loss pass, a training pass, a check pass) plus the int8 re-quantization of the new weights.");
        Console.WriteLine("                                                             stream-steps/s   ns/stream-step   alloc B/step");
        Print("tuned network, one by one (own weights)", tunedOneByOne);
        Print("frozen network, one by one (own copies)", frozenOneByOne);
        Print("frozen network, batched (shared model)", frozenBatched);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  learner update (measured on {Math.Min(streams, 4)} learners, {updates} updates): {learnNs / 1000:F1} us = {learnPerSample:F0} ns per sample"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sustained with fine-tuning on: all one by one {1e9 / before,12:F0} stream-steps/s ({before:F0} ns);"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  frozen networks batched   {1e9 / design,12:F0} stream-steps/s ({design:F0} ns): {before / design:F2}x; the learner is {100 * learnPerSample / design:F0}% of it"));
        return 0;
    }

    private static void RoundOneByOne(Int8Forecaster[] f, float[] x, float[] y, int t, int streams)
    {
        int i = f[0].Shape.InputSize, o = f[0].Shape.OutputSize;
        for (int s = 0; s < f.Length; s++) f[s].Step(x.AsSpan((t * streams + s) * i, i), y.AsSpan(s * o, o));
    }

    private readonly record struct Result(double NsPerStreamStep, double MinNs, double AllocPerStep);

    private static void Print(string what, Result r) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  {what,-58} {1e9 / r.NsPerStreamStep,14:F0} {r.NsPerStreamStep,16:F1} {r.AllocPerStep,14:F3}"));

    /// <summary>
    /// A round steps every stream once (round t reads inputs t mod 64). Each way is warmed up until its round time stops
    /// improving (<see cref="BenchCommand.WarmUp"/>'s rule: a JIT build must reach tier-1 code); then <paramref name="runs"/>
    /// runs of about 50 ms each, the ways taking turns run by run, so a change of machine load falls on all of them alike;
    /// the median per stream-step of each.
    /// </summary>
    private static Result[] Time(Action<int>[] ways, int runs, int streams)
    {
        int t = 0, n = ways.Length;
        var rounds = new int[n];
        for (int m = 0; m < n; m++)
        {
            var sw = Stopwatch.StartNew();
            double best = double.MaxValue;
            int sinceBest = 0;
            while (sw.ElapsedMilliseconds < 5000)
            {
                long t0 = Stopwatch.GetTimestamp();
                ways[m](t++ & 63);
                double ns = Stopwatch.GetElapsedTime(t0).TotalNanoseconds;
                if (ns < 0.98 * best) { best = ns; sinceBest = 0; } else sinceBest++;
                if (sw.ElapsedMilliseconds >= 300 && sinceBest >= 20) break;
            }
            rounds[m] = Math.Max(3, (int)(50e6 / best));
        }
        var times = new double[n][];
        var allocated = new long[n];
        for (int m = 0; m < n; m++) times[m] = new double[runs];
        for (int r = 0; r < runs; r++)
            for (int m = 0; m < n; m++)
            {
                long a0 = GC.GetAllocatedBytesForCurrentThread();
                long t0 = Stopwatch.GetTimestamp();
                for (int k = 0; k < rounds[m]; k++) ways[m](t++ & 63);
                long t1 = Stopwatch.GetTimestamp();
                allocated[m] += GC.GetAllocatedBytesForCurrentThread() - a0;
                times[m][r] = (t1 - t0) * 1e9 / Stopwatch.Frequency / ((long)rounds[m] * streams);
            }
        var results = new Result[n];
        for (int m = 0; m < n; m++)
        {
            Array.Sort(times[m]);
            results[m] = new Result(times[m][runs / 2], times[m][0], (double)allocated[m] / ((long)runs * rounds[m] * streams));
        }
        return results;
    }

    /// <summary>
    /// Median time of one learner update (<see cref="OnlineTuner.Learn"/>, then the int8 re-quantization the daemon does when
    /// the weights changed) on <paramref name="learners"/> learners of a forecaster model over the benchmark's network, each fed
    /// its own synthetic rows; <see cref="OnlineOptions.Every"/> new rows before each update, as in the daemon.
    /// </summary>
    private static (double MedianNs, int Updates) TimeLearner(ForecasterParameters p, OnlineOptions o, int learners, int runs)
    {
        int inputs = p.Shape.InputSize, outputs = p.Shape.OutputSize;
        var channels = Enumerable.Range(0, inputs).Select(j => "c" + j.ToString(CultureInfo.InvariantCulture)).ToArray();
        var net = p.Clone();
        var model = new HybridModel(net, null, channels, channels[..1], outputs, InputTransform.Level,
            new float[inputs], Enumerable.Repeat(1f, inputs).ToArray(), Enumerable.Repeat(1f, inputs).ToArray(), null);
        var tuners = Enumerable.Range(0, learners).Select(_ => new OnlineTuner(model, o)).ToArray();
        var features = new float[inputs];
        var skip = new float[outputs];
        var truth = new float[1];
        float[] scale = [1f];
        long row = 0;
        void Feed(OnlineTuner tu, int rows, int seed)
        {
            for (int k = 0; k < rows; k++, row++)
            {
                for (int j = 0; j < inputs; j++) features[j] = MathF.Sin(0.05f * row * (j + 1) + seed);
                truth[0] = MathF.Sin(0.05f * (row + 1) + seed);
                tu.Record(features, skip, truth, scale);
            }
        }
        for (int l = 0; l < learners; l++) Feed(tuners[l], o.Replay / 4, l);
        var times = new List<double>();
        int updates = Math.Max(4, runs) * learners;
        for (int u = 0; u < updates + learners; u++)
        {
            var tu = tuners[u % learners];
            Feed(tu, o.Every, u % learners);
            long t0 = Stopwatch.GetTimestamp();
            if (tu.Learn()) _ = Int8Weights.Quantize(tu.Master);
            double ns = Stopwatch.GetElapsedTime(t0).TotalNanoseconds;
            if (u >= learners) times.Add(ns); // the first update of each learner is its warm-up
        }
        times.Sort();
        return (times[times.Count / 2], times.Count);
    }
}
