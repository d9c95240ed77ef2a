using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// ARM64 NEON without the dot-product extension (Raspberry Pi 4, Cortex-A72): SMULL + SMLAL2 form int16 sums of two
/// products (≤ 2·127·127, no overflow), SADALP widens pairs into int32 lanes. 16 MACs per 3 instructions.
/// </summary>
public sealed class NeonInt8Kernels : Int8Kernels
{
    public static readonly NeonInt8Kernels Instance = new();
    private NeonInt8Kernels() { }

    public override KernelPath Path => KernelPath.AdvSimd;
    public override string PathName => "neon (smull+smlal2+sadalp, 128-bit)";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Step(Vector128<int> acc, Vector128<sbyte> wv, Vector128<sbyte> xv)
    {
        var p = AdvSimd.MultiplyWideningLower(wv.GetLower(), xv.GetLower());
        p = AdvSimd.MultiplyWideningUpperAndAdd(p, wv, xv);
        return AdvSimd.AddPairwiseWideningAndAdd(acc, p);
    }

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

    /// <summary>
    /// Without SDOT: SMULL/SMULL2 of a block's 16 bytes (rows 0,1 | rows 2,3, 4 columns each) by the x quad repeated, then
    /// SADALP folds int16 pairs into int32 lanes [r0 k01, r0 k23, r1 k01, r1 k23]; one ADDP per 4 rows at the very end.
    /// Products are at most 127·128 in magnitude, so int16 holds them exactly.
    /// </summary>
    protected override void PackedProduct(PackedInt8Matrix w, ref int q, Span<int> acc)
    {
        int k4 = w.K4, nb = w.RowBlocks;
        ref sbyte wr = ref w.DataRef;
        for (int rb = 0; rb < nb; rb++)
        {
            ref sbyte b0 = ref Unsafe.Add(ref wr, rb * k4 * 32);
            Vector128<int> a01 = default, a23 = default, a45 = default, a67 = default;
            for (int kb = 0; kb < k4; kb++)
            {
                var xv = Vector128.Create(Unsafe.Add(ref q, kb)).AsSByte();
                var xl = xv.GetLower();
                ref sbyte p = ref Unsafe.Add(ref b0, kb * 32);
                var lo = Vector128.LoadUnsafe(ref p);
                var hi = Vector128.LoadUnsafe(ref p, 16);
                a01 = AdvSimd.AddPairwiseWideningAndAdd(a01, AdvSimd.MultiplyWideningLower(lo.GetLower(), xl));
                a23 = AdvSimd.AddPairwiseWideningAndAdd(a23, AdvSimd.MultiplyWideningUpper(lo, xv));
                a45 = AdvSimd.AddPairwiseWideningAndAdd(a45, AdvSimd.MultiplyWideningLower(hi.GetLower(), xl));
                a67 = AdvSimd.AddPairwiseWideningAndAdd(a67, AdvSimd.MultiplyWideningUpper(hi, xv));
            }
            Store8(AdvSimd.Arm64.AddPairwise(a01, a23), AdvSimd.Arm64.AddPairwise(a45, a67), acc, rb * 8);
        }
    }
}
