using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// x64 AVX-512BW: the AVX2 scheme at 512 bits. One 64-byte load is two consecutive quads of a row block (rows 0-7 ×
/// columns 4k..4k+3, then 4k+4..4k+7), multiplied by x quad k in the low half and quad k+1 in the high half; the halves
/// are added at the end. AVX-512 has no vpsignb, so sign(w, x) is (w ^ m) - m with m the x &lt; 0 byte mask. Pair sums stay
/// within ±2·127·127, so vpmaddubsw cannot saturate. An odd last quad takes one 256-bit AVX2 step.
/// </summary>
public sealed class Avx512Int8Kernels : Int8Kernels
{
    public static readonly Avx512Int8Kernels Instance = new();
    private Avx512Int8Kernels() { }

    public override string PathName => "avx512bw (vpmaddubsw+vpmaddwd, 512-bit)";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Step(Vector512<int> acc, Vector512<byte> ux, Vector512<sbyte> neg, Vector512<sbyte> wv)
    {
        var s = (wv ^ neg) - neg;
        return Avx512BW.Add(acc, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(ux, s), Vector512.Create((short)1)));
    }

    protected override void PackedProduct(PackedInt8Matrix w, ref int q, Span<int> acc)
    {
        int k4 = w.K4, nb = w.RowBlocks, pairs = k4 >> 1;
        nuint o1 = (nuint)(k4 * 32), o2 = 2 * o1, o3 = 3 * o1;
        ref sbyte wr = ref w.DataRef;
        int rb = 0;
        // Four row blocks share each pair of broadcast quads: four independent accumulator chains.
        for (; rb + 4 <= nb; rb += 4)
        {
            ref sbyte p = ref Unsafe.Add(ref wr, rb * (int)o1);
            Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int kp = 0; kp < pairs; kp++, p = ref Unsafe.Add(ref p, 64))
            {
                var xv = Pair(ref q, 2 * kp);
                var ux = Avx512BW.Abs(xv);
                var neg = Avx512BW.CompareLessThan(xv, Vector512<sbyte>.Zero);
                a0 = Step(a0, ux, neg, Vector512.LoadUnsafe(ref p));
                a1 = Step(a1, ux, neg, Vector512.LoadUnsafe(ref p, o1));
                a2 = Step(a2, ux, neg, Vector512.LoadUnsafe(ref p, o2));
                a3 = Step(a3, ux, neg, Vector512.LoadUnsafe(ref p, o3));
            }
            var s0 = Fold(a0); var s1 = Fold(a1); var s2 = Fold(a2); var s3 = Fold(a3);
            if ((k4 & 1) != 0)
            {
                var xv = Vector256.Create(Unsafe.Add(ref q, k4 - 1)).AsSByte();
                var ux = Avx2.Abs(xv);
                s0 = Avx2Int8Kernels.Step(s0, ux, xv, Vector256.LoadUnsafe(ref p));
                s1 = Avx2Int8Kernels.Step(s1, ux, xv, Vector256.LoadUnsafe(ref p, o1));
                s2 = Avx2Int8Kernels.Step(s2, ux, xv, Vector256.LoadUnsafe(ref p, o2));
                s3 = Avx2Int8Kernels.Step(s3, ux, xv, Vector256.LoadUnsafe(ref p, o3));
            }
            Store8(s0, acc, rb * 8);
            Store8(s1, acc, rb * 8 + 8);
            Store8(s2, acc, rb * 8 + 16);
            Store8(s3, acc, rb * 8 + 24);
        }
        for (; rb < nb; rb++)
        {
            ref sbyte p = ref Unsafe.Add(ref wr, rb * (int)o1);
            Vector512<int> a0 = default;
            for (int kp = 0; kp < pairs; kp++, p = ref Unsafe.Add(ref p, 64))
            {
                var xv = Pair(ref q, 2 * kp);
                a0 = Step(a0, Avx512BW.Abs(xv), Avx512BW.CompareLessThan(xv, Vector512<sbyte>.Zero), Vector512.LoadUnsafe(ref p));
            }
            var s0 = Fold(a0);
            if ((k4 & 1) != 0)
            {
                var xv = Vector256.Create(Unsafe.Add(ref q, k4 - 1)).AsSByte();
                s0 = Avx2Int8Kernels.Step(s0, Avx2.Abs(xv), xv, Vector256.LoadUnsafe(ref p));
            }
            Store8(s0, acc, rb * 8);
        }
    }

    /// <summary>Quad k broadcast to the low 256 bits, quad k + 1 to the high 256 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Pair(ref int q, int k)
        => Vector512.Create(Vector256.Create(Unsafe.Add(ref q, k)), Vector256.Create(Unsafe.Add(ref q, k + 1))).AsSByte();

    /// <summary>Rows' sums over even quads (low half) plus odd quads (high half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Fold(Vector512<int> a) => a.GetLower() + a.GetUpper();
}
