using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// ARM64 with the dot-product extension (Raspberry Pi 5, Cortex-A76): SDOT adds four int8 products into each int32 lane,
/// 16 MACs per instruction with no intermediate narrowing.
/// </summary>
public sealed class DotProdInt8Kernels : Int8Kernels
{
    public static readonly DotProdInt8Kernels Instance = new();
    private DotProdInt8Kernels() { }

    public override KernelPath Path => KernelPath.Dp;
    public override string PathName => "neon-dotprod (sdot, 128-bit)";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Step(Vector128<int> acc, Vector128<sbyte> wv, Vector128<sbyte> xv)
        => Dp.DotProduct(acc, wv, xv);

    public override int Dot(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        CheckDot(a, b);
        return DotRef(ref Ref(a), ref Ref(b), a.Length);
    }

    private static int DotRef(ref sbyte w, ref sbyte x, int n)
    {
        int end = n & ~15;
        var acc = Vector128<int>.Zero;
        for (int k = 0; k < end; k += 16)
            acc = Step(acc, Vector128.LoadUnsafe(ref w, (nuint)k), Vector128.LoadUnsafe(ref x, (nuint)k));
        return Vector128.Sum(acc) + Tail(ref w, ref x, end, n);
    }

    public override void MatVec(ReadOnlySpan<sbyte> w, int stride, ReadOnlySpan<sbyte> x, Span<int> acc)
    {
        CheckMatVec(w, stride, x, acc);
        int rows = acc.Length, n = x.Length, end = n & ~15;
        ref sbyte xr = ref Ref(x);
        ref sbyte wr = ref Ref(w);
        int r = 0;
        for (; r + 4 <= rows; r += 4)
        {
            ref sbyte w0 = ref Unsafe.Add(ref wr, r * stride);
            ref sbyte w1 = ref Unsafe.Add(ref w0, stride);
            ref sbyte w2 = ref Unsafe.Add(ref w1, stride);
            ref sbyte w3 = ref Unsafe.Add(ref w2, stride);
            Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < end; k += 16)
            {
                var xv = Vector128.LoadUnsafe(ref xr, (nuint)k);
                a0 = Step(a0, Vector128.LoadUnsafe(ref w0, (nuint)k), xv);
                a1 = Step(a1, Vector128.LoadUnsafe(ref w1, (nuint)k), xv);
                a2 = Step(a2, Vector128.LoadUnsafe(ref w2, (nuint)k), xv);
                a3 = Step(a3, Vector128.LoadUnsafe(ref w3, (nuint)k), xv);
            }
            // pairwise adds reduce four rows at once: [Σa0, Σa1, Σa2, Σa3]
            var sums = AdvSimd.Arm64.AddPairwise(AdvSimd.Arm64.AddPairwise(a0, a1), AdvSimd.Arm64.AddPairwise(a2, a3));
            if (end < n)
                sums += Vector128.Create(Tail(ref w0, ref xr, end, n), Tail(ref w1, ref xr, end, n), Tail(ref w2, ref xr, end, n), Tail(ref w3, ref xr, end, n));
            sums.StoreUnsafe(ref MemoryMarshal.GetReference(acc), (nuint)r);
        }
        for (; r < rows; r++) acc[r] = DotRef(ref Unsafe.Add(ref wr, r * stride), ref xr, n);
    }

    /// <summary>SDOT is signed × signed: each 16 bytes of a block (4 rows × 4 columns) against the broadcast x quad.</summary>
    protected override void PackedProduct(PackedInt8Matrix w, ref int q, Span<int> acc)
    {
        int k4 = w.K4, nb = w.RowBlocks, blk = k4 * 32;
        ref sbyte wr = ref w.DataRef;
        int rb = 0;
        // Two row blocks (16 rows): four independent accumulator chains.
        for (; rb + 2 <= nb; rb += 2)
        {
            ref sbyte b0 = ref Unsafe.Add(ref wr, rb * blk);
            Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int kb = 0; kb < k4; kb++)
            {
                var xv = Vector128.Create(Unsafe.Add(ref q, kb)).AsSByte();
                ref sbyte p = ref Unsafe.Add(ref b0, kb * 32);
                a0 = Step(a0, Vector128.LoadUnsafe(ref p), xv);
                a1 = Step(a1, Vector128.LoadUnsafe(ref p, 16), xv);
                a2 = Step(a2, Vector128.LoadUnsafe(ref p, (nuint)blk), xv);
                a3 = Step(a3, Vector128.LoadUnsafe(ref p, (nuint)(blk + 16)), xv);
            }
            Store8(a0, a1, acc, rb * 8);
            Store8(a2, a3, acc, rb * 8 + 8);
        }
        for (; rb < nb; rb++)
        {
            ref sbyte b0 = ref Unsafe.Add(ref wr, rb * blk);
            Vector128<int> a0 = default, a1 = default;
            for (int kb = 0; kb < k4; kb++)
            {
                var xv = Vector128.Create(Unsafe.Add(ref q, kb)).AsSByte();
                ref sbyte p = ref Unsafe.Add(ref b0, kb * 32);
                a0 = Step(a0, Vector128.LoadUnsafe(ref p), xv);
                a1 = Step(a1, Vector128.LoadUnsafe(ref p, 16), xv);
            }
            Store8(a0, a1, acc, rb * 8);
        }
    }
}
