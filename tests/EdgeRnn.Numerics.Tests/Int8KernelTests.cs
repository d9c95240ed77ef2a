using EdgeRnn.Numerics;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Numerics.Tests;

public class Int8KernelTests
{
    /// <summary>Supported paths by name (serializable theory data: one test case per path).</summary>
    public static TheoryData<string> Paths()
    {
        var d = new TheoryData<string>();
        foreach (var p in Int8Kernels.SupportedPaths) d.Add(p.Name);
        return d;
    }

    private static sbyte[] Random(Random rng, int n)
    {
        var a = new sbyte[n];
        for (int i = 0; i < n; i++) a[i] = (sbyte)rng.Next(-127, 128);
        return a;
    }

    [Theory, MemberData(nameof(Paths))]
    public void MatVecPackedMatchesScalarAtEveryLength0To300AndModelShapes(string path)
    {
        var k = KernelPath.Find(path)!.Kernels;
        var rng = new Random(77);
        var shapes = new List<(int Rows, int Cols)>();
        // every column count 0..300 (partial quads, every tail) with row counts that leave partial and whole blocks
        for (int c = 0; c <= 300; c++) shapes.Add((c % 41 + 1, c));
        foreach (int r in new[] { 0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 63, 64, 65 }) shapes.Add((r, 13));
        foreach (int h in new[] { 16, 32, 64, 65, 128, 256 })
        {
            shapes.Add((4 * h, 8));   // LSTM input product
            shapes.Add((4 * h, h));   // LSTM recurrent product
            shapes.Add((3 * h, h));   // GRU
            shapes.Add((24, h));      // head
        }
        foreach (var (r, c) in shapes)
        {
            int stride = c + rng.Next(0, 3);
            var w = Random(rng, r * stride);
            var x = Random(rng, c);
            var want = new int[r];
            var got = new int[r];
            ScalarInt8Kernels.Instance.MatVec(w, stride, x, want);
            var packed = PackedInt8Matrix.Pack(w, r, c, stride);
            k.MatVecPacked(packed, x, got);
            Assert.True(want.AsSpan().SequenceEqual(got), $"{path}: {r}x{c}");
            // the forecaster's route: x prepared into quads once (x + 128 on AVX-VNNI), then the product
            var quads = new int[Int8Kernels.QuadCount(c)];
            k.PrepareQuads(x, quads);
            Array.Clear(got);
            k.MatVecPacked(packed, quads, got);
            Assert.True(want.AsSpan().SequenceEqual(got), $"{path}: {r}x{c} from prepared quads");
        }
    }

    [Theory, MemberData(nameof(Paths))]
    public void MatVecPackedExtremeOperandsDoNotSaturate(string path)
    {
        var k = KernelPath.Find(path)!.Kernels;
        foreach (int c in new[] { 1, 4, 63, 64, 65, 256, 300 })
        {
            int r = 17;
            var w = Enumerable.Repeat((sbyte)127, r * c).ToArray();
            var x = Enumerable.Repeat((sbyte)-127, c).ToArray();
            var got = new int[r];
            k.MatVecPacked(PackedInt8Matrix.Pack(w, r, c, c), x, got);
            Assert.All(got, v => Assert.Equal(-127 * 127 * c, v));
            k.MatVecPacked(PackedInt8Matrix.Pack(x.Concat(Enumerable.Repeat((sbyte)-127, (r - 1) * c)).ToArray(), r, c, c), x, got);
            Assert.All(got, v => Assert.Equal(127 * 127 * c, v));
        }
    }

    [Fact]
    public void PackedLayoutInterleavesEightRowsByFourColumns()
    {
        // w[r, k] = 10·r + k: block 0, quad 0 holds rows 0..7 × columns 0..3, row after row.
        int rows = 9, cols = 5;
        var w = new sbyte[rows * cols];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) w[r * cols + c] = (sbyte)(10 * r + c);
        var p = PackedInt8Matrix.Pack(w, rows, cols, cols);
        Assert.Equal(2, p.K4);
        Assert.Equal(2, p.RowBlocks);
        Assert.Equal(2 * 2 * 32, p.Data.Length);
        Assert.Equal(new sbyte[] { 0, 1, 2, 3, 10, 11, 12, 13 }, p.Data[..8].ToArray());
        Assert.Equal(new sbyte[] { 4, 0, 0, 0, 14, 0, 0, 0 }, p.Data[32..40].ToArray());   // quad 1: column 4 then padding
        Assert.Equal(new sbyte[] { 80, 81, 82, 83, 0, 0, 0, 0 }, p.Data[64..72].ToArray()); // block 1: row 8, then a padding row
        Assert.Equal(128 * (80 + 81 + 82 + 83 + 84), p.RowCorrection[8]);
        Assert.Equal(0, p.RowCorrection[9]);
    }

    [Fact]
    public void MatVecPackedRejectsMismatchedShapes()
    {
        var p = PackedInt8Matrix.Pack(new sbyte[12], 3, 4, 4);
        foreach (var path in Int8Kernels.SupportedPaths)
        {
            var k = path.Kernels;
            Assert.Throws<ArgumentException>(() => k.MatVecPacked(p, new sbyte[5], new int[3]));
            Assert.Throws<ArgumentException>(() => k.MatVecPacked(p, new sbyte[4], new int[4]));
            Assert.Throws<ArgumentException>(() => k.MatVecPacked(p, new int[2], new int[3]));
            Assert.Throws<ArgumentException>(() => k.PrepareQuads(new sbyte[5], new int[1]));
        }
        Assert.Throws<ArgumentException>(() => PackedInt8Matrix.Pack(new sbyte[11], 3, 4, 4));
    }

    [Fact]
    public void ScalarReferenceIsTheObviousSum()
    {
        sbyte[] a = { 1, -2, 3, 127 };
        sbyte[] b = { 5, 6, -7, -127 };
        Assert.Equal(5 - 12 - 21 - 16129, ScalarInt8Kernels.Instance.Dot(a, b));
    }

    [Fact]
    public void ActivePathIsSupportedAndUnsupportedPathsThrow()
    {
        Assert.True(Int8Kernels.ActivePath.IsSupported);
        Assert.Same(Int8Kernels.ActivePath.Kernels, Int8Kernels.Active);
        Assert.Contains(KernelPath.Scalar, Int8Kernels.SupportedPaths);
        Assert.Same(KernelPath.Scalar, KernelPath.Table[^1]); // the reference is the last resort
        Assert.Equal(KernelPath.Table.Count, KernelPath.Table.Select(p => p.Name.ToLowerInvariant()).Distinct().Count());
        Assert.Same(KernelPath.Avx2, KernelPath.Find("AVX2"));
        Assert.Null(KernelPath.Find("avx3"));
        // without EDGERNN_KERNEL the active path is the first supported row
        if (Environment.GetEnvironmentVariable("EDGERNN_KERNEL") is null or "") Assert.Same(KernelPath.Table.First(p => p.IsSupported), Int8Kernels.ActivePath);
        foreach (var p in KernelPath.Table)
            if (!p.IsSupported) Assert.Throws<PlatformNotSupportedException>(() => p.Kernels);
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.NotEqual(KernelPath.Scalar, Int8Kernels.ActivePath);
    }

    [Fact]
    public void MatVecRejectsShortWeights()
    {
        var k = ScalarInt8Kernels.Instance;
        Assert.Throws<ArgumentException>(() => k.MatVec(new sbyte[10], 4, new sbyte[4], new int[3]));
        Assert.Throws<ArgumentException>(() => k.MatVec(new sbyte[100], 3, new sbyte[4], new int[3]));
    }

    [Fact]
    public void QuantizeRoundsHalfToEvenAndClamps()
    {
        float[] v = { 0.5f, 1.5f, -0.5f, -2.5f, 200f, -200f, 3.49f };
        var q = new sbyte[v.Length];
        Int8Quantize.Quantize(v, 1f, q);
        Assert.Equal(new sbyte[] { 0, 2, 0, -2, 127, -127, 3 }, q);
        // the vector body (16 at a time, then one block of 8) and the scalar tail agree, at every length to 40 and at 301
        var rng = new Random(5);
        foreach (int n in Enumerable.Range(0, 41).Append(301))
        {
            var big = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            var qv = new sbyte[big.Length];
            Int8Quantize.Quantize(big, 63.5f, qv);
            for (int i = 0; i < big.Length; i++) Assert.Equal(Int8Quantize.QuantizeOne(big[i], 63.5f), qv[i]);
        }
    }

}
