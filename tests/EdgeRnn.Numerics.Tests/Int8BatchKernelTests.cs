using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Numerics.Tests;

public class Int8BatchKernelTests
{
    public static TheoryData<string> Paths() => Int8KernelTests.Paths();

    private static sbyte[] Random(Random rng, int n)
    {
        var a = new sbyte[n];
        for (int i = 0; i < n; i++) a[i] = (sbyte)rng.Next(-127, 128);
        return a;
    }

    /// <summary>Every path's batch product equals the row-major reference per vector: awkward column counts (every quad
    /// tail), row counts with odd and partial blocks, every vector count around the 4-vector tile, and model shapes.</summary>
    [Theory, MemberData(nameof(Paths))]
    public void MatMulPackedMatchesScalarMatVecPerVector(string path)
    {
        var kp = KernelPath.Find(path)!;
        var bk = Int8BatchKernels.For(kp);
        Assert.Same(kp, bk.Path);
        var rng = new Random(123);
        var shapes = new List<(int Rows, int Cols)>();
        foreach (int c in new[] { 0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 255, 257 }) shapes.Add((c % 29 + 1, c));
        foreach (int r in new[] { 1, 7, 8, 9, 15, 16, 17, 24, 25, 40, 63, 64, 65 }) shapes.Add((r, 13));
        foreach (int h in new[] { 16, 24, 64, 65, 256 })
        {
            shapes.Add((4 * h, 8));
            shapes.Add((4 * h, h));
            shapes.Add((3 * h, h));
        }
        int[] counts = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13];
        foreach (var (r, c) in shapes)
        {
            var w = Random(rng, r * c);
            var packed = PackedInt8Matrix.Pack(w, r, c, c);
            int q4 = Int8Kernels.QuadCount(c), rows = packed.RowBlocks * 8;
            foreach (int n in counts)
            {
                if (n > 5 && r * c > 20000) continue; // large shapes: the tile and its tails suffice
                var xs = new sbyte[n][];
                var quads = new int[n * q4];
                var acc = new int[n][];
                for (int b = 0; b < n; b++)
                {
                    xs[b] = Random(rng, c);
                    kp.Kernels.PrepareQuads(xs[b], quads.AsSpan(b * q4, q4));
                    acc[b] = Enumerable.Repeat(int.MinValue, rows + 3).ToArray(); // stale values must be overwritten
                }
                bk.MatMulPacked(packed, quads, acc);
                var want = new int[r];
                for (int b = 0; b < n; b++)
                {
                    ScalarInt8Kernels.Instance.MatVec(w, c, xs[b], want);
                    Assert.True(want.AsSpan().SequenceEqual(acc[b].AsSpan(0, r)), $"{path}: {r}x{c}, vector {b} of {n}");
                    Assert.All(acc[b][r..rows], v => Assert.Equal(0, v)); // padding rows
                    Assert.All(acc[b][rows..], v => Assert.Equal(int.MinValue, v)); // nothing written past the row blocks
                }
            }
        }
    }

    [Theory, MemberData(nameof(Paths))]
    public void MatMulPackedExtremeOperandsDoNotSaturate(string path)
    {
        var kp = KernelPath.Find(path)!;
        var bk = Int8BatchKernels.For(kp);
        foreach (int c in new[] { 1, 63, 64, 65, 300 })
        {
            int r = 17, n = 5, q4 = Int8Kernels.QuadCount(c);
            var packed = PackedInt8Matrix.Pack(Enumerable.Repeat((sbyte)127, r * c).ToArray(), r, c, c);
            var quads = new int[n * q4];
            var acc = new int[n][];
            for (int b = 0; b < n; b++)
            {
                kp.Kernels.PrepareQuads(Enumerable.Repeat((sbyte)(b % 2 == 0 ? -127 : 127), c).ToArray(), quads.AsSpan(b * q4, q4));
                acc[b] = new int[packed.RowBlocks * 8];
            }
            bk.MatMulPacked(packed, quads, acc);
            for (int b = 0; b < n; b++) Assert.All(acc[b][..r], v => Assert.Equal((b % 2 == 0 ? -1 : 1) * 127 * 127 * c, v));
        }
    }

    [Fact]
    public void MatMulPackedRejectsShortArguments()
    {
        var bk = Int8BatchKernels.For(KernelPath.Scalar);
        var packed = PackedInt8Matrix.Pack(new sbyte[9 * 5], 9, 5, 5);
        Assert.Throws<ArgumentException>(() => bk.MatMulPacked(packed, new int[3], [new int[16], new int[16]]));
        Assert.Throws<ArgumentException>(() => bk.MatMulPacked(packed, new int[4], [new int[16], new int[9]]));
        foreach (var p in KernelPath.Table.Where(p => !p.IsSupported))
            Assert.Throws<PlatformNotSupportedException>(() => Int8BatchKernels.For(p));
    }
}
