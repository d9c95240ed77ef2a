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

    public override string PathName => "neon-dotprod (sdot, 128-bit)";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Step(Vector128<int> acc, Vector128<sbyte> wv, Vector128<sbyte> xv)
        => Dp.DotProduct(acc, wv, xv);

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
