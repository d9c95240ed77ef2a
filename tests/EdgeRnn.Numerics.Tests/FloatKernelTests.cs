namespace EdgeRnn.Numerics.Tests;

/// <summary>Every float kernel's fast path against its scalar reference at awkward lengths (vector tails, 4-row blocks).</summary>
public sealed class FloatKernelTests
{
    /// <summary>Runs a check once per kernel path this machine can take: widest, 128-bit only, no hand-written vectors.</summary>
    private static void EveryPath(Action check)
    {
        bool u256 = FloatKernels.Use256, u128 = FloatKernels.Use128;
        try
        {
            check();
            FloatKernels.Use256 = false;
            check();
            FloatKernels.Use128 = false;
            check();
        }
        finally { FloatKernels.Use256 = u256; FloatKernels.Use128 = u128; }
    }

    public static readonly int[] Lengths = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 255, 257];
    public static readonly int[] Rows = [1, 2, 3, 4, 5, 7, 9];

    private static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    // Different summation orders (SIMD lanes, FMA) differ by rounding: bound by ε · Σ|terms| per output.
    private static void Close(float want, float got, double absSum, string where)
    {
        double tol = 4 * 1.2e-7 * (absSum + Math.Abs(want)) + 1e-30;
        Assert.True(Math.Abs(want - got) <= tol, $"{where}: fast {got} vs reference {want} (tolerance {tol:E2})");
    }

    [Fact]
    public void MatMulTransposed_matches_reference() => EveryPath(() =>
    {
        foreach (int k in Lengths)
            foreach (int m in new[] { 1, 3 })
                foreach (int n in Rows)
                    foreach (bool bias in new[] { false, true })
                    {
                        var a = Random(m * k, k + 1); var w = Random(n * k, k + 2); var b = bias ? Random(n, 3) : [];
                        var fast = new float[m * n]; var slow = new float[m * n];
                        FloatKernels.MatMulTransposed(fast, a, w, b, m, n, k);
                        FloatReference.MatMulTransposed(slow, a, w, b, m, n, k);
                        for (int i = 0; i < m; i++)
                            for (int j = 0; j < n; j++)
                            {
                                double s = bias ? Math.Abs(b[j]) : 0;
                                for (int q = 0; q < k; q++) s += Math.Abs(a[i * k + q] * w[j * k + q]);
                                Close(slow[i * n + j], fast[i * n + j], s, $"m={m} n={n} k={k} bias={bias} [{i},{j}]");
                            }
                    }
    });

    [Fact]
    public void MatMulAccumulate_matches_reference() => EveryPath(() =>
    {
        foreach (int k in Lengths)
            foreach (int m in new[] { 1, 2, 3, 5 })
                foreach (int n in Rows)
                {
                    var dy = Random(m * n, k + 5); var w = Random(n * k, k + 6);
                    CheckAccumulate(Random(m * k, 7), m, k, n,
                        fast => FloatKernels.MatMulAccumulate(fast, dy, w, m, n, k),
                        slow => FloatReference.MatMulAccumulate(slow, dy, w, m, n, k),
                        (i, q, j) => dy[i * n + j] * w[j * k + q], $"m={m} n={n} k={k}");
                }
    });

    [Fact]
    public void MatMulTransposedLeftAccumulate_matches_reference() => EveryPath(() =>
    {
        foreach (int k in Lengths)
            foreach (int m in new[] { 1, 3, 17 })
                foreach (int n in Rows.Append(40))
                {
                    var dy = Random(m * n, k + 8); var a = Random(m * k, k + 9);
                    CheckAccumulate(Random(n * k, 10), n, k, m,
                        fast => FloatKernels.MatMulTransposedLeftAccumulate(fast, dy, a, m, n, k),
                        slow => FloatReference.MatMulTransposedLeftAccumulate(slow, dy, a, m, n, k),
                        (j, q, i) => dy[i * n + j] * a[i * k + q], $"m={m} n={n} k={k}");
                }
    });

    /// <summary>Runs an accumulating kernel and its reference from the same start ([rows, k]) and checks every output,
    /// bounded by |start| + Σ|term(row, q, t)| over the <paramref name="terms"/> products summed into it.</summary>
    private static void CheckAccumulate(float[] start, int rows, int k, int terms, Action<float[]> fastKernel,
                                        Action<float[]> referenceKernel, Func<int, int, int, float> term, string where)
    {
        var fast = (float[])start.Clone(); var slow = (float[])start.Clone();
        fastKernel(fast);
        referenceKernel(slow);
        for (int r = 0; r < rows; r++)
            for (int q = 0; q < k; q++)
            {
                double s = Math.Abs(start[r * k + q]);
                for (int t = 0; t < terms; t++) s += Math.Abs(term(r, q, t));
                Close(slow[r * k + q], fast[r * k + q], s, $"{where} [{r},{q}]");
            }
    }

    [Fact]
    public void SumRowsAccumulate_matches_reference()
    {
        foreach (int n in Lengths)
            foreach (int m in new[] { 1, 3, 17 })
            {
                var dy = Random(m * n, n + 11);
                var fast = Random(n, 12); var slow = (float[])fast.Clone();
                FloatKernels.SumRowsAccumulate(fast, dy, m, n);
                FloatReference.SumRowsAccumulate(slow, dy, m, n);
                for (int j = 0; j < n; j++)
                {
                    double s = Math.Abs(fast[j]);
                    for (int i = 0; i < m; i++) s += Math.Abs(dy[i * n + j]);
                    Close(slow[j], fast[j], s, $"m={m} n={n} [{j}]");
                }
            }
    }

    [Fact]
    public void Activations_match_reference()
    {
        foreach (int n in Lengths)
        {
            var x = Random(n, n + 13, 12f);
            if (n > 2) { x[0] = 0f; x[1] = -90f; x[2] = 90f; }
            var fast = new float[n]; var slow = new float[n];
            FloatKernels.Sigmoid(x, fast); FloatReference.Sigmoid(x, slow);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(fast[i] - slow[i]) <= 2.5e-7f, $"sigmoid n={n} x={x[i]}: {fast[i]} vs {slow[i]}");
            FloatKernels.Tanh(x, fast); FloatReference.Tanh(x, slow);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(fast[i] - slow[i]) <= 2.5e-7f, $"tanh n={n} x={x[i]}: {fast[i]} vs {slow[i]}");
            FloatKernels.Relu(x, fast); FloatReference.Relu(x, slow);
            Assert.Equal(slow, fast);
        }
    }

    /// <summary>The batch-1 packed product at both lane counts (and the reference loops when a width is switched off)
    /// against the reference, at awkward column counts and tile counts.</summary>
    [Fact]
    public void PackedMatVec_matches_reference() => EveryPath(() =>
    {
        foreach (int lanes in new[] { 8, 4 })
            foreach (int k in Lengths)
                foreach (int tiles in new[] { 1, 2, 3 })
                {
                    int tile = 4 * lanes;
                    var w = Random(tiles * k * tile, k + 20); var b = Random(tiles * tile, k + 21); var x = Random(k, k + 22);
                    var fast = new float[tiles * tile]; var slow = new float[tiles * tile];
                    FloatKernels.PackedMatVec(fast, w, b, x, tiles, k, lanes);
                    FloatReference.PackedMatVec(slow, w, b, x, tiles, k, lanes);
                    for (int t = 0; t < tiles; t++)
                        for (int r = 0; r < tile; r++)
                        {
                            double sum = Math.Abs(b[t * tile + r]);
                            for (int q = 0; q < k; q++) sum += Math.Abs(w[(t * k + q) * tile + r] * x[q]);
                            Close(slow[t * tile + r], fast[t * tile + r], sum, $"lanes={lanes} k={k} tiles={tiles} [{t},{r}]");
                        }
                }
    });

    /// <summary>PackRows + PackedMatMul (training's products) against the reference MatMulTransposed at awkward sizes:
    /// row counts that leave a partial last tile, with and without bias, both lane counts, every path.</summary>
    [Fact]
    public void PackedMatMul_matches_MatMulTransposed_reference() => EveryPath(() =>
    {
        foreach (int lanes in new[] { 8, 4 })
            foreach (int k in Lengths)
                foreach (int n in new[] { 1, 5, 16, 32, 33, 70 })
                    foreach (bool bias in new[] { false, true })
                    {
                        int m = 3;
                        var a = Random(m * k, k + 40); var w = Random(n * k, k + 41); var b = bias ? Random(n, 42) : [];
                        var packed = new float[FloatKernels.PackedRowsSize(n, k, lanes)];
                        FloatKernels.PackRows(packed, w, b, n, k, lanes);
                        var fast = new float[m * n]; var slow = new float[m * n];
                        FloatKernels.PackedMatMul(fast, a, packed, m, n, k, lanes);
                        FloatReference.MatMulTransposed(slow, a, w, b, m, n, k);
                        for (int i = 0; i < m; i++)
                            for (int j = 0; j < n; j++)
                            {
                                double s = bias ? Math.Abs(b[j]) : 0;
                                for (int q = 0; q < k; q++) s += Math.Abs(a[i * k + q] * w[j * k + q]);
                                Close(slow[i * n + j], fast[i * n + j], s, $"lanes={lanes} n={n} k={k} bias={bias} [{i},{j}]");
                            }
                    }
    });

    /// <summary>PackTile puts w0 [rows, k0] beside w1 [rows, k1] so the packed product is w0·x0 + w1·x1 + b0 + b1 for the
    /// mapped rows and exactly 0 for padding rows (rows in reverse order, so a transposed index would show).</summary>
    [Fact]
    public void PackTile_gives_the_product_over_both_parts()
    {
        foreach (int lanes in new[] { 8, 4 })
            foreach (int k0 in new[] { 0, 1, 3, 9 })
                foreach (int k1 in new[] { 0, 2, 17 })
                {
                    int tile = 4 * lanes, rows = tile - 3;
                    var w0 = Random(rows * k0, 30); var w1 = Random(rows * k1, 31); var b0 = Random(rows, 32); var b1 = Random(rows, 33);
                    var map = new int[tile];
                    for (int r = 0; r < tile; r++) map[r] = r < rows ? rows - 1 - r : -1;
                    var packed = new float[(k0 + k1) * tile]; var bias = new float[tile];
                    FloatKernels.PackTile(packed, bias, lanes, w0, b0, k0, map, w1, b1, k1, map);
                    var x = Random(k0 + k1, 34);
                    var y = new float[tile];
                    FloatReference.PackedMatVec(y, packed, bias, x, 1, k0 + k1, lanes);
                    var y0 = new float[rows]; var y1 = new float[rows];
                    FloatReference.MatMulTransposed(y0, x.AsSpan(0, k0), w0, b0, 1, rows, k0);
                    FloatReference.MatMulTransposed(y1, x.AsSpan(k0, k1), w1, b1, 1, rows, k1);
                    for (int r = 0; r < tile; r++)
                    {
                        if (r >= rows) { Assert.Equal(0f, y[r]); continue; }
                        int src = rows - 1 - r;
                        Assert.True(Math.Abs(y0[src] + y1[src] - y[r]) <= 1e-5f, $"lanes={lanes} k0={k0} k1={k1} row {r}: {y[r]} vs {y0[src] + y1[src]}");
                    }
                }
    }

    [Fact]
    public void SumOfSquares_matches_reference()
    {
        foreach (int n in Lengths.Append(10000))
        {
            var x = Random(n, n + 14, 3f);
            double want = FloatReference.SumOfSquares(x), got = FloatKernels.SumOfSquares(x);
            Assert.True(Math.Abs(want - got) <= 1e-6 * want + 1e-30, $"n={n}: {got} vs {want}");
        }
    }

    [Fact]
    public void Mismatched_sizes_are_refused()
    {
        Assert.Throws<ArgumentException>(() => FloatKernels.MatMulTransposed(new float[3], new float[4], new float[6], [], 1, 3, 3));
        Assert.Throws<ArgumentException>(() => FloatKernels.MatMulAccumulate(new float[3], new float[3], new float[8], 1, 3, 3));
    }
}
