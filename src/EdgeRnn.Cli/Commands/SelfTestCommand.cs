using System.Globalization;
using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn self-test: every int8 kernel path this CPU supports against the scalar reference (dot products at every
/// length 0..300, matrix-vector products at awkward and model sizes, saturation extremes), then the int8 forecaster
/// against the float32 one and across kernel paths. Exit 0 only if everything matched; prints what it checked.
/// </summary>
public static class SelfTestCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, ["quiet"]);
        bool quiet = a.Has("quiet");
        a.RejectUnknown();
        int failures = 0;
        void Report(bool ok, string what)
        {
            if (!ok) failures++;
            if (!ok || !quiet) Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {what}");
        }

        Console.WriteLine($"active kernel path: {Int8Kernels.Active.PathName}");
        Console.WriteLine($"supported paths: {string.Join(", ", Int8Kernels.SupportedPaths)}");
        var scalar = Int8Kernels.For(KernelPath.Scalar);
        foreach (var path in Int8Kernels.SupportedPaths)
        {
            var k = Int8Kernels.For(path);
            var rng = new Random(2024);
            int bad = 0, checks = 0;
            for (int n = 0; n <= 300; n++)
            {
                var x = RandomBytes(rng, n);
                var y = RandomBytes(rng, n);
                checks++;
                if (k.Dot(x, y) != scalar.Dot(x, y)) bad++;
            }
            Report(bad == 0, $"{path,-9} dot, lengths 0..300: {checks - bad}/{checks} equal to scalar");

            bad = 0; checks = 0;
            foreach (int n in new[] { 16, 32, 64, 100, 256, 300 })
            {
                var p = Enumerable.Repeat((sbyte)127, n).ToArray();
                var m = Enumerable.Repeat((sbyte)-127, n).ToArray();
                checks += 2;
                if (k.Dot(p, m) != -16129 * n) bad++;
                if (k.Dot(m, m) != 16129 * n) bad++;
            }
            Report(bad == 0, $"{path,-9} dot, ±127 extremes (no saturation): {checks - bad}/{checks}");

            bad = 0; checks = 0;
            var shapes = new List<(int Rows, int Cols)>();
            foreach (int c in new[] { 1, 7, 15, 16, 17, 31, 33, 63, 65, 255, 257 }) shapes.Add((5, c));
            foreach (int h in new[] { 32, 64, 128, 256 })
            {
                shapes.Add((4 * h, 16));      // LSTM input product (8 inputs, padded)
                shapes.Add((4 * h, h));       // LSTM recurrent product
                shapes.Add((3 * h, h));       // GRU
                shapes.Add((24, h));          // head
            }
            foreach (var (rows, cols) in shapes)
            {
                int stride = cols + (cols % 3);
                var w = RandomBytes(rng, rows * stride);
                var x = RandomBytes(rng, cols);
                var want = new int[rows];
                var got = new int[rows];
                scalar.MatVec(w, stride, x, want);
                k.MatVec(w, stride, x, got);
                checks++;
                if (!want.AsSpan().SequenceEqual(got)) bad++;
            }
            Report(bad == 0, $"{path,-9} matvec, {checks} shapes incl. model sizes 4H×H, 3H×H, 24×H for H=32..256: {checks - bad}/{checks}");

            // the row-interleaved layout the forecaster runs on: every column count 0..300, partial row blocks, model sizes
            bad = 0; checks = 0;
            var packedShapes = new List<(int Rows, int Cols)>();
            for (int c = 0; c <= 300; c++) packedShapes.Add((c % 41 + 1, c));
            foreach (int h in new[] { 32, 64, 65, 128, 256 }) { packedShapes.Add((4 * h, 8)); packedShapes.Add((4 * h, h)); packedShapes.Add((3 * h, h)); packedShapes.Add((24, h)); }
            foreach (var (rows, cols) in packedShapes)
            {
                var w = RandomBytes(rng, rows * cols);
                var x = RandomBytes(rng, cols);
                var want = new int[rows];
                var got = new int[rows];
                scalar.MatVec(w, cols, x, want);
                k.MatVecPacked(PackedInt8Matrix.Pack(w, rows, cols, cols), x, got);
                checks++;
                if (!want.AsSpan().SequenceEqual(got)) bad++;
            }
            Report(bad == 0, $"{path,-9} packed matvec, {checks} shapes (cols 0..300, model sizes): {checks - bad}/{checks}");
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
            foreach (var path in Int8Kernels.SupportedPaths)
            {
                var yp = RunAll(new Int8Forecaster(p, Int8Kernels.For(path)), x);
                bool same = true;
                for (int i = 0; i < yp.Length; i++) same &= BitConverter.SingleToInt32Bits(yp[i]) == BitConverter.SingleToInt32Bits(yq[i]);
                Report(same, $"int8 forecaster ({arch.ToSpecName()}) on {path}: outputs bit-identical to the scalar path");
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

    private static float[] RunAll(IForecaster f, float[] x)
    {
        int i = f.Shape.InputSize, o = f.Shape.OutputSize, steps = x.Length / i;
        var y = new float[steps * o];
        for (int t = 0; t < steps; t++) f.Step(x.AsSpan(t * i, i), y.AsSpan(t * o, o));
        return y;
    }

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
