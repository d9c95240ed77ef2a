using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// x64 AVX2: vpabsb/vpsignb turn int8×int8 into unsigned×signed for vpmaddubsw (pair sums ≤ 2·127·127, no saturation
/// because operands are within ±127), then vpmaddwd by ones widens the int16 pairs to int32. 32 MACs per 4 instructions.
/// </summary>
public sealed class Avx2Int8Kernels : Int8Kernels
{
    public static readonly Avx2Int8Kernels Instance = new();
    private Avx2Int8Kernels() { }

    public override KernelPath Path => KernelPath.Avx2;
    public override string PathName => "avx2 (vpsignb+vpmaddubsw+vpmaddwd, 256-bit)";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> Step(Vector256<int> acc, Vector256<byte> ux, Vector256<sbyte> xv, Vector256<sbyte> wv)
        => Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ux, Avx2.Sign(wv, xv)), Vector256.Create((short)1)));

    public override int Dot(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        CheckDot(a, b);
        return DotRef(ref Ref(a), ref Ref(b), a.Length);
    }

    private static int DotRef(ref sbyte w, ref sbyte x, int n)
    {
        int end = n & ~31;
        var acc = Vector256<int>.Zero;
        for (int k = 0; k < end; k += 32)
        {
            var xv = Vector256.LoadUnsafe(ref x, (nuint)k);
            acc = Step(acc, Avx2.Abs(xv), xv, Vector256.LoadUnsafe(ref w, (nuint)k));
        }
        return Vector256.Sum(acc) + Rest16(ref w, ref x, end, n);
    }

    public override void MatVec(ReadOnlySpan<sbyte> w, int stride, ReadOnlySpan<sbyte> x, Span<int> acc)
    {
        CheckMatVec(w, stride, x, acc);
        int rows = acc.Length, n = x.Length, end = n & ~31;
        ref sbyte xr = ref Ref(x);
        ref sbyte wr = ref Ref(w);
        int r = 0;
        // Four rows share each load of x and its |x|.
        for (; r + 4 <= rows; r += 4)
        {
            ref sbyte w0 = ref Unsafe.Add(ref wr, r * stride);
            ref sbyte w1 = ref Unsafe.Add(ref w0, stride);
            ref sbyte w2 = ref Unsafe.Add(ref w1, stride);
            ref sbyte w3 = ref Unsafe.Add(ref w2, stride);
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < end; k += 32)
            {
                var xv = Vector256.LoadUnsafe(ref xr, (nuint)k);
                var ux = Avx2.Abs(xv);
                a0 = Step(a0, ux, xv, Vector256.LoadUnsafe(ref w0, (nuint)k));
                a1 = Step(a1, ux, xv, Vector256.LoadUnsafe(ref w1, (nuint)k));
                a2 = Step(a2, ux, xv, Vector256.LoadUnsafe(ref w2, (nuint)k));
                a3 = Step(a3, ux, xv, Vector256.LoadUnsafe(ref w3, (nuint)k));
            }
            var sums = Sum4(a0, a1, a2, a3);
            if (end < n)
                sums += Vector128.Create(Rest16(ref w0, ref xr, end, n), Rest16(ref w1, ref xr, end, n), Rest16(ref w2, ref xr, end, n), Rest16(ref w3, ref xr, end, n));
            sums.StoreUnsafe(ref MemoryMarshal.GetReference(acc), (nuint)r);
        }
        for (; r < rows; r++) acc[r] = DotRef(ref Unsafe.Add(ref wr, r * stride), ref xr, n);
    }

    protected override void PackedProduct(PackedInt8Matrix w, ref int q, Span<int> acc) => Packed(w, ref q, acc);

    /// <summary>Also the AVX-512BW path's packed product (AVX-512 has no vpsignb, and 8-row blocks fill 256 bits).</summary>
    internal static void Packed(PackedInt8Matrix w, ref int q, Span<int> acc)
    {
        int k4 = w.K4, nb = w.RowBlocks, blk = k4 * 32;
        ref sbyte wr = ref w.DataRef;
        int rb = 0;
        // Four row blocks (32 rows) share each broadcast of x: four independent accumulator chains.
        for (; rb + 4 <= nb; rb += 4)
        {
            ref sbyte b0 = ref Unsafe.Add(ref wr, rb * blk);
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int kb = 0; kb < k4; kb++)
            {
                var xv = Vector256.Create(Unsafe.Add(ref q, kb)).AsSByte();
                var ux = Avx2.Abs(xv);
                ref sbyte p = ref Unsafe.Add(ref b0, kb * 32);
                a0 = Step(a0, ux, xv, Vector256.LoadUnsafe(ref p));
                a1 = Step(a1, ux, xv, Vector256.LoadUnsafe(ref p, (nuint)blk));
                a2 = Step(a2, ux, xv, Vector256.LoadUnsafe(ref p, (nuint)(2 * blk)));
                a3 = Step(a3, ux, xv, Vector256.LoadUnsafe(ref p, (nuint)(3 * blk)));
            }
            int r = rb * 8;
            Store8(a0, acc, r);
            Store8(a1, acc, r + 8);
            Store8(a2, acc, r + 16);
            Store8(a3, acc, r + 24);
        }
        // Leftover blocks: even and odd quads in two chains.
        for (; rb < nb; rb++)
        {
            ref sbyte b0 = ref Unsafe.Add(ref wr, rb * blk);
            Vector256<int> a0 = default, a1 = default;
            int kb = 0;
            for (; kb + 2 <= k4; kb += 2)
            {
                var xv = Vector256.Create(Unsafe.Add(ref q, kb)).AsSByte();
                var xw = Vector256.Create(Unsafe.Add(ref q, kb + 1)).AsSByte();
                a0 = Step(a0, Avx2.Abs(xv), xv, Vector256.LoadUnsafe(ref b0, (nuint)(kb * 32)));
                a1 = Step(a1, Avx2.Abs(xw), xw, Vector256.LoadUnsafe(ref b0, (nuint)(kb * 32 + 32)));
            }
            if (kb < k4)
            {
                var xv = Vector256.Create(Unsafe.Add(ref q, kb)).AsSByte();
                a0 = Step(a0, Avx2.Abs(xv), xv, Vector256.LoadUnsafe(ref b0, (nuint)(kb * 32)));
            }
            Store8(a0 + a1, acc, rb * 8);
        }
    }
}
