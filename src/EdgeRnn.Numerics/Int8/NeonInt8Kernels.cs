using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// ARM64 NEON without the dot-product extension (Raspberry Pi 4, Cortex-A72): SMULL/SMULL2 form int16 products
/// (≤ 127·127, no overflow), SADALP widens and accumulates pairs into int32 lanes. 16 MACs per 4 instructions.
/// </summary>
public sealed class NeonInt8Kernels : Int8Kernels
{
    public static readonly NeonInt8Kernels Instance = new();
    private NeonInt8Kernels() { }

    public override string PathName => "neon (smull+smlal2+sadalp, 128-bit)";

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
