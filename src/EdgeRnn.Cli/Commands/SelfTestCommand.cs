using System.Globalization;
using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn self-test: every int8 kernel path this CPU supports against the scalar reference (packed matrix-vector
/// products at every column count 0..300 and at model sizes, saturation extremes), the epilogue's activations on both
/// lane widths, the batch kernels (one matrix, many vectors), then the int8 forecaster against the float32 one, across kernel
/// paths and batched. Exit 0 only if everything matched; prints what it checked.
/// </summary>
public static class SelfTestCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, ["quiet"]);
        bool quiet = a.GetSwitch("quiet");
        a.RejectUnknown();
        int failures = 0;
        void Report(bool ok, string what)
        {
            if (!ok) failures++;
            if (!ok || !quiet) Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {what}");
        }

        Console.WriteLine($"active kernel path: {Int8Kernels.Active.PathName}");
        Console.WriteLine($"supported paths: {string.Join(", ", Int8Kernels.SupportedPaths)}");
        var scalar = ScalarInt8Kernels.Instance;
        foreach (var path in Int8Kernels.SupportedPaths)
        {
            var k = path.Kernels;
            var rng = new Random(2024);
            // the row-interleaved layout the forecaster runs on, against plain row-major loops: every column count
            // 0..300 (every tail of a quad and of a 512-bit pair), partial row blocks, model sizes; x given as it is and
            // as prepared quads (the forecaster's route)
            int bad = 0, checks = 0;
            var shapes = new List<(int Rows, int Cols)>();
            for (int c = 0; c <= 300; c++) shapes.Add((c % 41 + 1, c));
            foreach (int h in new[] { 32, 64, 65, 128, 256 }) { shapes.Add((4 * h, 8)); shapes.Add((4 * h, h)); shapes.Add((3 * h, h)); shapes.Add((24, h)); }
            foreach (var (rows, cols) in shapes)
            {
                var w = RandomBytes(rng, rows * cols);
                var x = RandomBytes(rng, cols);
                var want = new int[rows];
                var got = new int[rows];
                var packed = PackedInt8Matrix.Pack(w, rows, cols, cols);
                scalar.MatVec(w, cols, x, want);
                k.MatVecPacked(packed, x, got);
                checks++;
                if (!want.AsSpan().SequenceEqual(got)) bad++;
                var quads = new int[Int8Kernels.QuadCount(cols)];
                k.PrepareQuads(x, quads);
                Array.Clear(got);
                k.MatVecPacked(packed, quads, got);
                checks++;
                if (!want.AsSpan().SequenceEqual(got)) bad++;
            }
            Report(bad == 0, $"{path,-9} packed matvec, {shapes.Count} shapes (cols 0..300, model sizes), x and prepared quads: {checks - bad}/{checks} equal to scalar");

            bad = 0; checks = 0;
            foreach (int n in new[] { 1, 4, 16, 63, 64, 65, 256, 300 })
            {
                var pos = Enumerable.Repeat((sbyte)127, 17 * n).ToArray();
                var neg = Enumerable.Repeat((sbyte)-127, n).ToArray();
                var got = new int[17];
                k.MatVecPacked(PackedInt8Matrix.Pack(pos, 17, n, n), neg, got);
                checks++;
                if (got.Any(v => v != -16129 * n)) bad++;
                k.MatVecPacked(PackedInt8Matrix.Pack(pos, 17, n, n), pos.AsSpan(0, n), got);
                checks++;
                if (got.Any(v => v != 16129 * n)) bad++;
            }
            Report(bad == 0, $"{path,-9} packed matvec, ±127 extremes (no saturation): {checks - bad}/{checks}");

            // the batch kernel (one matrix, many vectors: the streams sharing a model) against the same reference per vector
            var bk = Int8BatchKernels.For(path);
            bad = 0; checks = 0;
            foreach (var (rows, cols) in new[] { (1, 0), (9, 5), (17, 13), (40, 63), (256, 8), (256, 64), (195, 65), (768, 256) })
            {
                var w = RandomBytes(rng, rows * cols);
                var packed = PackedInt8Matrix.Pack(w, rows, cols, cols);
                int q4 = Int8Kernels.QuadCount(cols);
                foreach (int n in new[] { 1, 3, 4, 5, 9 })
                {
                    var xs = Enumerable.Range(0, n).Select(_ => RandomBytes(rng, cols)).ToArray();
                    var quads = new int[n * q4];
                    var acc = new int[n][];
                    for (int b = 0; b < n; b++) { k.PrepareQuads(xs[b], quads.AsSpan(b * q4, q4)); acc[b] = new int[packed.RowBlocks * 8]; }
                    bk.MatMulPacked(packed, quads, acc);
                    var want = new int[rows];
                    for (int b = 0; b < n; b++)
                    {
                        scalar.MatVec(w, cols, xs[b], want);
                        checks++;
                        if (!want.AsSpan().SequenceEqual(acc[b].AsSpan(0, rows))) bad++;
                    }
                }
            }
            Report(bad == 0, $"{path,-9} batch matmul (1-9 vectors per matrix): {checks - bad}/{checks} vectors equal to scalar");
        }

        {
            // the float epilogue's activations: both lane widths (the one this CPU accelerates, the other in software)
            // against the scalar formula, bit for bit
            var rng = new Random(11);
            var x = new float[4096];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 24 - 12);
            var t256 = new float[x.Length];
            var t128 = new float[x.Length];
            EdgeRnn.Numerics.Activations.Tanh<EdgeRnn.Numerics.Width256>(x, t256);
            EdgeRnn.Numerics.Activations.Tanh<EdgeRnn.Numerics.Lanes128x2>(x, t128);
            int bad = 0;
            for (int i = 0; i < x.Length; i++)
            {
                int want = BitConverter.SingleToInt32Bits(EdgeRnn.Numerics.Activations.Tanh(x[i]));
                if (want != BitConverter.SingleToInt32Bits(t256[i]) || want != BitConverter.SingleToInt32Bits(t128[i])) bad++;
            }
            Report(bad == 0, $"tanh, 256-bit and 2×128-bit lanes vs scalar on {x.Length} values: {x.Length - bad}/{x.Length} bit-identical");
        }

        foreach (var arch in new[] { RnnArch.Lstm, RnnArch.Gru })
        {
            var p = SyntheticModel(arch, 8, 64, 2, 4);
            var x = SyntheticInputs(8, 300);
            var yf = RunAll(new FloatForecaster(p), x);
            double mean = yf.Average(v => (double)v), ss = 0, se = 0;
            var yq = RunAll(new Int8Forecaster(p, scalar), x);
            for (int i = 0; i < yf.Length; i++) { ss += (yf[i] - mean) * (yf[i] - mean); se += (yq[i] - yf[i]) * (double)(yq[i] - yf[i]); }
            double rel = Math.Sqrt(se / ss);
            Report(rel <= 0.02, $"int8 vs float32 forecaster ({arch.ToSpecName()}, 2×64): rmse = {rel.ToString("P3", CultureInfo.InvariantCulture)} of output std (limit 2%)");
            {
                // the float epilogue at this CPU's lane width against plain scalar lanes
                var ys = RunAll(new Int8Forecaster(p, scalar, Int8Forecaster.EpilogueLanes.Scalar), x);
                bool same = true;
                for (int i = 0; i < ys.Length; i++) same &= BitConverter.SingleToInt32Bits(ys[i]) == BitConverter.SingleToInt32Bits(yq[i]);
                Report(same, $"int8 forecaster ({arch.ToSpecName()}) epilogue: {(System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "256-bit" : "2×128-bit")} lanes bit-identical to scalar lanes");
            }
            foreach (var path in Int8Kernels.SupportedPaths)
            {
                var yp = RunAll(new Int8Forecaster(p, path.Kernels), x);
                bool same = true;
                for (int i = 0; i < yp.Length; i++) same &= BitConverter.SingleToInt32Bits(yp[i]) == BitConverter.SingleToInt32Bits(yq[i]);
                Report(same, $"int8 forecaster ({arch.ToSpecName()}) on {path}: outputs bit-identical to the scalar path");
                // 5 streams of the model in one batch, stream b fed the inputs from step 7·b on: each bit-identical to a
                // single-stream forecaster of its own
                const int Streams = 5, Steps = 40;
                var batch = new Int8Forecaster.Batch(p, Streams, path, Int8Forecaster.EpilogueLanes.Auto);
                var bx = new float[Streams * 8];
                var by = new float[Streams * 4];
                var yb = new float[Streams * Steps * 4];
                for (int t = 0; t < Steps; t++)
                {
                    for (int b = 0; b < Streams; b++) x.AsSpan((7 * b + t) * 8, 8).CopyTo(bx.AsSpan(b * 8));
                    batch.StepAll(bx, by);
                    for (int b = 0; b < Streams; b++) by.AsSpan(b * 4, 4).CopyTo(yb.AsSpan((b * Steps + t) * 4));
                }
                same = true;
                for (int b = 0; b < Streams; b++)
                {
                    var ys = RunAll(new Int8Forecaster(p, path.Kernels), x.AsSpan(7 * b * 8, Steps * 8).ToArray());
                    for (int i = 0; i < ys.Length; i++) same &= BitConverter.SingleToInt32Bits(ys[i]) == BitConverter.SingleToInt32Bits(yb[b * Steps * 4 + i]);
                }
                Report(same, $"int8 batch of {Streams} streams ({arch.ToSpecName()}) on {path}: each stream bit-identical to its own forecaster");
            }
            // printed so that x64 and ARM64 runs can be compared by eye or by diff
            Console.WriteLine($"int8 {arch.ToSpecName()} last output: {string.Join(" ", yq[^4..].Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}");
        }

        Console.WriteLine(failures == 0 ? "self-test passed" : $"self-test FAILED: {failures} check(s)");
        return failures == 0 ? 0 : 1;
    }

    private static sbyte[] RandomBytes(Random rng, int n)
    {
        var a = new sbyte[n];
        for (int i = 0; i < n; i++) a[i] = (sbyte)rng.Next(-127, 128);
        return a;
    }

    private static float[] RunAll(IForecaster f, float[] x) => f.StepAll(x);

    /// <summary>PyTorch-like uniform(±1/√H) weights, scaled up so the gates leave their linear range. Deterministic.</summary>
    internal static ForecasterParameters SyntheticModel(RnnArch arch, int input, int hidden, int layers, int output, int seed = 7)
    {
        var p = new ForecasterParameters(new ForecasterShape(arch, input, hidden, layers, output));
        var rng = new Random(seed);
        float bound = 2f / MathF.Sqrt(hidden);
        for (int i = 0; i < p.Arena.Length; i++) p.Arena[i] = (float)(rng.NextDouble() * 2 - 1) * bound;
        return p;
    }

    internal static float[] SyntheticInputs(int input, int steps)
    {
        var x = new float[input * steps];
        for (int t = 0; t < steps; t++)
            for (int j = 0; j < input; j++) x[t * input + j] = MathF.Sin(0.05f * t * (j + 1) + j) * (1 + 0.3f * j);
        return x;
    }
}
