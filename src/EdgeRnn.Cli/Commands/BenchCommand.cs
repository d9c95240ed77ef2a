using System.Diagnostics;
using System.Globalization;
using System.Text;
using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn bench [--json] [--runs N] [--hidden 32,64,128,256]: nanoseconds per streaming step (batch 1, one time step,
/// state carried) of the float32 and int8 forecasters, LSTM with 8 inputs and 24 outputs; median over repeated runs,
/// allocations per step, and the int8 kernel path in use. With --streams N [--fine-tune on|off] [--hidden H]: stream-steps
/// per second for N streams of one model, one by one and batched (<see cref="BenchStreams"/>).
/// </summary>
public static class BenchCommand
{
    public const int Inputs = 8, Outputs = 24;

    public sealed record Row(int Hidden, string Precision, double MedianNs, double MinNs, double AllocBytesPerStep, long MacsPerStep);

    public static int Run(string[] args)
    {
        var a = new Args(args, ["json"]);
        bool json = a.GetSwitch("json");
        int runs = a.GetInt("runs", 9);
        string? hiddenArg = a.Get("hidden");
        string hiddenList = hiddenArg ?? "32,64,128,256";
        string? streams = a.Get("streams");
        bool fineTune = a.GetSwitch("fine-tune");
        a.RejectUnknown();
        if (runs < 1) throw new UsageException("--runs must be at least 1");
        if (streams is not null)
        {
            if (json) throw new UsageException("--json is not available with --streams");
            if (!int.TryParse(streams, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < 1) throw new UsageException($"--streams expects a positive integer, got '{streams}'");
            if (!int.TryParse(hiddenArg ?? "64", NumberStyles.Integer, CultureInfo.InvariantCulture, out int hs) || hs < 1)
                throw new UsageException($"--hidden with --streams expects one positive integer, got '{hiddenArg}'");
            return BenchStreams.Run(n, fineTune, hs, runs);
        }
        if (a.Has("fine-tune")) throw new UsageException("--fine-tune goes with --streams");
        var hiddens = hiddenList.Split(',').Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int h) && h > 0
            ? h : throw new UsageException($"--hidden expects positive integers, got '{s}'")).ToArray();

        var rows = new List<Row>();
        foreach (int h in hiddens)
        {
            var p = SelfTestCommand.SyntheticModel(RnnArch.Lstm, Inputs, h, 1, Outputs);
            long macs = 4L * h * (Inputs + h) + (long)Outputs * h;
            rows.Add(Measure(new FloatForecaster(p), h, "float32", runs, macs));
            rows.Add(Measure(new Int8Forecaster(p), h, "int8", runs, macs));
        }

        if (json)
        {
            var sb = new StringBuilder();
            sb.Append("{\"kernel_path\":\"").Append(Int8Kernels.ActivePath).Append("\",\"kernel\":\"").Append(Int8Kernels.Active.PathName)
              .Append("\",\"float_kernels\":\"").Append(EdgeRnn.Numerics.FloatKernels.PathName).Append("\",\"aot\":").Append(IsJit ? "false" : "true").Append(",\"arch\":\"lstm\",\"inputs\":").Append(Inputs).Append(",\"outputs\":").Append(Outputs).Append(",\"runs\":").Append(runs).Append(",\"results\":[");
            for (int i = 0; i < rows.Count; i++)
            {
                var r = rows[i];
                sb.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture,
                    $"{{\"hidden\":{r.Hidden},\"precision\":\"{r.Precision}\",\"median_ns\":{r.MedianNs:F1},\"min_ns\":{r.MinNs:F1},\"alloc_bytes_per_step\":{r.AllocBytesPerStep:F3},\"macs_per_step\":{r.MacsPerStep}}}");
            }
            Console.WriteLine(sb.Append("]}").ToString());
            return 0;
        }

        Console.WriteLine($"kernel path: {Int8Kernels.Active.PathName}; float kernels: {EdgeRnn.Numerics.FloatKernels.PathName}; code: {CodeKind}");
        Console.WriteLine($"LSTM, {Inputs} inputs, {Outputs} outputs, batch 1, one time step per call, state carried; median of {runs} runs");
        Console.WriteLine("hidden  precision   median ns/step   min ns/step   alloc B/step   GMAC/s   float/int8");
        foreach (int h in hiddens)
        {
            var f = rows.First(r => r.Hidden == h && r.Precision == "float32");
            var q = rows.First(r => r.Hidden == h && r.Precision == "int8");
            foreach (var r in new[] { f, q })
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.Hidden,6}  {r.Precision,-9} {r.MedianNs,16:F1} {r.MinNs,13:F1} {r.AllocBytesPerStep,14:F3} {r.MacsPerStep / r.MedianNs,8:F2}   {(r == q ? (f.MedianNs / q.MedianNs).ToString("F2", CultureInfo.InvariantCulture) + "x" : "")}"));
        }
        return 0;
    }

    /// <summary>How the timed code was compiled: ahead of time (always optimized) or by the JIT, whose tiered
    /// compilation first runs unoptimized code and swaps in optimized code later, in the background.</summary>
    public static bool IsJit => System.Runtime.JitInfo.GetCompiledMethodCount() > 0;

    public static string CodeKind => IsJit
        ? "JIT (warmed up until the step time stopped improving, so tier-1 code is timed)" : "Native AOT (optimized ahead of time)";

    /// <summary>
    /// Step until the time per step stops improving: batches of about 5 ms, done when the best batch of the last 20 is
    /// no faster than 2% below the best before them, after at least 300 ms (a JIT build first runs tier-0 code, 5 to
    /// 10× slower, until the tiering thread replaces it; timing that would measure the compiler, not the kernels). At
    /// most 5 s. Returns the warm-up's length in ms and the ns per step of its best batch.
    /// </summary>
    public static (double Ms, double BestNs) WarmUp(IForecaster f, float[] x, float[] y)
    {
        int i = f.Shape.InputSize, batch = 16, s = 0;
        var sw = Stopwatch.StartNew();
        var best = new List<double>();
        while (true)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int k = 0; k < batch; k++, s++) f.Step(x.AsSpan((s & 255) * i, i), y);
            double ns = Stopwatch.GetElapsedTime(t0).TotalNanoseconds / batch;
            if (ns * batch < 5e6 && batch < 1 << 20) batch *= 2;
            best.Add(best.Count == 0 ? ns : Math.Min(best[^1], ns));
            double ms = sw.Elapsed.TotalMilliseconds;
            if (ms > 5000) break;
            if (ms >= 300 && best.Count > 40 && best[^1] >= 0.98 * best[^21]) break;
        }
        return (sw.Elapsed.TotalMilliseconds, best[^1]);
    }

    /// <summary>Median and minimum ns per step over <paramref name="runs"/> timed runs, each sized to about 20 ms,
    /// after <see cref="WarmUp"/>.</summary>
    public static Row Measure(IForecaster f, int hidden, string precision, int runs, long macs)
    {
        var x = SelfTestCommand.SyntheticInputs(f.Shape.InputSize, 256);
        var y = new float[f.Shape.OutputSize];
        int i = f.Shape.InputSize;
        double perStepMs = WarmUp(f, x, y).BestNs * 1e-6;
        int steps = Math.Max(100, (int)(20 / perStepMs));
        var times = new double[runs];
        long allocated = 0;
        for (int r = 0; r < runs; r++)
        {
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            long t0 = Stopwatch.GetTimestamp();
            for (int s = 0; s < steps; s++) f.Step(x.AsSpan((s & 255) * i, i), y);
            long t1 = Stopwatch.GetTimestamp();
            allocated += GC.GetAllocatedBytesForCurrentThread() - a0;
            times[r] = (t1 - t0) * 1e9 / Stopwatch.Frequency / steps;
        }
        Array.Sort(times);
        return new Row(hidden, precision, times[runs / 2], times[0], (double)allocated / ((long)runs * steps), macs);
    }
}
