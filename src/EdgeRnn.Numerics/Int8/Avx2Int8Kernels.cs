using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// x64 AVX2: vpabsb/vpsignb turn int8×int8 into unsigned×signed for vpmaddubsw (pair sums ≤ 2·127·127, no saturation
/// because operands are within ±127), then vpmaddwd by ones widens the int16 pairs to int32. 32 MACs per 5 instructions
/// (with the broadcast's vpabsb shared by four row blocks). Step is shared with the AVX-512BW path's odd last quad.
/// </summary>
public sealed class Avx2Int8Kernels : Int8Kernels
{
    public static readonly Avx2Int8Kernels Instance = new();
    private Avx2Int8Kernels() { }

    public override string PathName => "avx2 (vpsignb+vpmaddubsw+vpmaddwd, 256-bit)";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> Step(Vector256<int> acc, Vector256<byte> ux, Vector256<sbyte> xv, Vector256<sbyte> wv)
        => Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ux, Avx2.Sign(wv, xv)), Vector256.Create((short)1)));

    protected override void PackedProduct(PackedInt8Matrix w, ref int q, Span<int> acc) => Packed(w, ref q, acc);

    private static void Packed(PackedInt8Matrix w, ref int q, Span<int> acc)
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
