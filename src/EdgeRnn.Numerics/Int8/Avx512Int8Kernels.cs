using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// x64 AVX-512BW: the AVX2 scheme at 512 bits. AVX-512 has no vpsignb, so sign(w, x) is (w ^ m) - m with m the
/// x &lt; 0 lane mask; a 32-byte AVX2 step and scalar loop take the tail.
/// </summary>
public sealed class Avx512Int8Kernels : Int8Kernels
{
    public static readonly Avx512Int8Kernels Instance = new();
    private Avx512Int8Kernels() { }

    public override KernelPath Path => KernelPath.Avx512BW;
    public override string PathName => "avx512bw (vpmaddubsw+vpmaddwd, 512-bit)";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Step(Vector512<int> acc, Vector512<byte> ux, Vector512<sbyte> neg, Vector512<sbyte> wv)
    {
        var s = (wv ^ neg) - neg;
        return Avx512BW.Add(acc, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(ux, s), Vector512.Create((short)1)));
    }

    public override int Dot(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        CheckDot(a, b);
        return DotRef(ref Ref(a), ref Ref(b), a.Length);
    }

    private static int DotRef(ref sbyte w, ref sbyte x, int n)
    {
        int end = n & ~63;
        var acc = Vector512<int>.Zero;
        for (int k = 0; k < end; k += 64)
        {
            var xv = Vector512.LoadUnsafe(ref x, (nuint)k);
            acc = Step(acc, Avx512BW.Abs(xv), Vector512.LessThan(xv, Vector512<sbyte>.Zero), Vector512.LoadUnsafe(ref w, (nuint)k));
        }
        return Vector512.Sum(acc) + Rest(ref w, ref x, end, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Rest(ref sbyte w, ref sbyte x, int k, int n)
    {
        int s = 0;
        if (k + 32 <= n)
        {
            var xv = Vector256.LoadUnsafe(ref x, (nuint)k);
            s = Vector256.Sum(Avx2Int8Kernels.Step(Vector256<int>.Zero, Avx2.Abs(xv), xv, Vector256.LoadUnsafe(ref w, (nuint)k)));
            k += 32;
        }
        return s + Rest16(ref w, ref x, k, n);
    }

    public override void MatVec(ReadOnlySpan<sbyte> w, int stride, ReadOnlySpan<sbyte> x, Span<int> acc)
    {
        CheckMatVec(w, stride, x, acc);
        int rows = acc.Length, n = x.Length, end = n & ~63;
        ref sbyte xr = ref Ref(x);
        ref sbyte wr = ref Ref(w);
        int r = 0;
        for (; r + 4 <= rows; r += 4)
        {
            ref sbyte w0 = ref Unsafe.Add(ref wr, r * stride);
            ref sbyte w1 = ref Unsafe.Add(ref w0, stride);
            ref sbyte w2 = ref Unsafe.Add(ref w1, stride);
            ref sbyte w3 = ref Unsafe.Add(ref w2, stride);
            Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < end; k += 64)
            {
                var xv = Vector512.LoadUnsafe(ref xr, (nuint)k);
                var ux = Avx512BW.Abs(xv);
                var neg = Vector512.LessThan(xv, Vector512<sbyte>.Zero);
                a0 = Step(a0, ux, neg, Vector512.LoadUnsafe(ref w0, (nuint)k));
                a1 = Step(a1, ux, neg, Vector512.LoadUnsafe(ref w1, (nuint)k));
                a2 = Step(a2, ux, neg, Vector512.LoadUnsafe(ref w2, (nuint)k));
                a3 = Step(a3, ux, neg, Vector512.LoadUnsafe(ref w3, (nuint)k));
            }
            var sums = Sum4(a0.GetLower() + a0.GetUpper(), a1.GetLower() + a1.GetUpper(), a2.GetLower() + a2.GetUpper(), a3.GetLower() + a3.GetUpper());
            if (end < n)
                sums += Vector128.Create(Rest(ref w0, ref xr, end, n), Rest(ref w1, ref xr, end, n), Rest(ref w2, ref xr, end, n), Rest(ref w3, ref xr, end, n));
            sums.StoreUnsafe(ref MemoryMarshal.GetReference(acc), (nuint)r);
        }
        for (; r < rows; r++) acc[r] = DotRef(ref Unsafe.Add(ref wr, r * stride), ref xr, n);
    }

    /// <summary>The AVX2 packed product: 8-row blocks are 256 bits wide and AVX-512 lacks vpsignb, so 512 bits buy nothing here.</summary>
    protected override void PackedProduct(PackedInt8Matrix w, ref int q, Span<int> acc)
        => Avx2Int8Kernels.Packed(w, ref q, acc);
}
