using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// x64 SSSE3, the baseline every x64 gateway has (the portable Native AOT build targets x86-64-v2, which cannot assume
/// AVX2): the AVX2 scheme at 128 bits. A row block's 32 bytes are two halves, rows 0-3 and rows 4-7 (4 columns each);
/// pabsb/psignb make unsigned × signed for pmaddubsw (pair sums ≤ 2·127·127, no saturation), pmaddwd by ones widens to
/// int32, one lane per row.
/// </summary>
public sealed class Ssse3Int8Kernels : Int8Kernels
{
    public static readonly Ssse3Int8Kernels Instance = new();
    private Ssse3Int8Kernels() { }

    public override string PathName => "ssse3 (psignb+pmaddubsw+pmaddwd, 128-bit)";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Step(Vector128<int> acc, Vector128<byte> ux, Vector128<sbyte> xv, Vector128<sbyte> wv)
        => Sse2.Add(acc, Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(ux, Ssse3.Sign(wv, xv)), Vector128.Create((short)1)));

    protected override void PackedProduct(PackedInt8Matrix w, ref int q, Span<int> acc)
    {
        int k4 = w.K4, nb = w.RowBlocks;
        nuint blk = (nuint)(k4 * 32);
        ref sbyte wr = ref w.DataRef;
        int rb = 0;
        // Two row blocks (16 rows) share each broadcast of x: four independent accumulator chains.
        for (; rb + 2 <= nb; rb += 2)
        {
            ref sbyte p = ref Unsafe.Add(ref wr, rb * (int)blk);
            Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int kb = 0; kb < k4; kb++, p = ref Unsafe.Add(ref p, 32))
            {
                var xv = Vector128.Create(Unsafe.Add(ref q, kb)).AsSByte();
                var ux = Ssse3.Abs(xv);
                a0 = Step(a0, ux, xv, Vector128.LoadUnsafe(ref p));
                a1 = Step(a1, ux, xv, Vector128.LoadUnsafe(ref p, 16));
                a2 = Step(a2, ux, xv, Vector128.LoadUnsafe(ref p, blk));
                a3 = Step(a3, ux, xv, Vector128.LoadUnsafe(ref p, blk + 16));
            }
            Store8(a0, a1, acc, rb * 8);
            Store8(a2, a3, acc, rb * 8 + 8);
        }
        if (rb < nb)
        {
            ref sbyte p = ref Unsafe.Add(ref wr, rb * (int)blk);
            Vector128<int> a0 = default, a1 = default;
            for (int kb = 0; kb < k4; kb++, p = ref Unsafe.Add(ref p, 32))
            {
                var xv = Vector128.Create(Unsafe.Add(ref q, kb)).AsSByte();
                var ux = Ssse3.Abs(xv);
                a0 = Step(a0, ux, xv, Vector128.LoadUnsafe(ref p));
                a1 = Step(a1, ux, xv, Vector128.LoadUnsafe(ref p, 16));
            }
            Store8(a0, a1, acc, rb * 8);
        }
    }
}
