using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// x64 AVX-VNNI (256-bit vpdpbusd): |x| as unsigned times sign(w, x), accumulated straight into int32 lanes, so there is
/// no int16 intermediate at all. .NET 10 exposes no 512-bit VNNI class (only Avx10v1, absent on this Zen 4).
/// </summary>
public sealed class AvxVnniInt8Kernels : Int8Kernels
{
    public static readonly AvxVnniInt8Kernels Instance = new();
    private AvxVnniInt8Kernels() { }

    public override KernelPath Path => KernelPath.AvxVnni;
    public override string PathName => "avx-vnni (vpdpbusd, 256-bit; row-interleaved matvec feeds x+128)";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Step(Vector256<int> acc, Vector256<byte> ux, Vector256<sbyte> xv, Vector256<sbyte> wv)
        => AvxVnni.MultiplyWideningAndAdd(acc, ux, Avx2.Sign(wv, xv));

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

    /// <summary>
    /// vpdpbusd takes unsigned × signed, so x goes in as x + 128 (0..255) against the signed weights, and the packed
    /// matrix's per-row 128·Σw is subtracted at the end: exact, and one instruction per 32 MACs (no vpsignb, no vpabsb).
    /// </summary>
    /// <summary>XOR 0x80 in every byte: x + 128 as unsigned (padding bytes flip too, but meet zero weights).</summary>
    private const int Flip = unchecked((int)0x80808080);

    public override void MatVecPacked(PackedInt8Matrix w, ReadOnlySpan<sbyte> x, Span<int> acc)
    {
        CheckPacked(w, x, acc);
        if (w.Rows == 0) return;
        Span<int> quads = stackalloc int[Math.Max(w.K4, 1)];
        PadQuads(x, quads);
        int k4 = w.K4, nb = w.RowBlocks, blk = k4 * 32;
        ref sbyte wr = ref MemoryMarshal.GetArrayDataReference(w.Data);
        ref int corr = ref MemoryMarshal.GetArrayDataReference(w.RowCorrection);
        ref int q = ref MemoryMarshal.GetReference(quads);
        int rb = 0;
        for (; rb + 4 <= nb; rb += 4)
        {
            ref sbyte b0 = ref Unsafe.Add(ref wr, rb * blk);
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int kb = 0; kb < k4; kb++)
            {
                var xu = Vector256.Create(Unsafe.Add(ref q, kb) ^ Flip).AsByte();
                ref sbyte p = ref Unsafe.Add(ref b0, kb * 32);
                a0 = AvxVnni.MultiplyWideningAndAdd(a0, xu, Vector256.LoadUnsafe(ref p));
                a1 = AvxVnni.MultiplyWideningAndAdd(a1, xu, Vector256.LoadUnsafe(ref p, (nuint)blk));
                a2 = AvxVnni.MultiplyWideningAndAdd(a2, xu, Vector256.LoadUnsafe(ref p, (nuint)(2 * blk)));
                a3 = AvxVnni.MultiplyWideningAndAdd(a3, xu, Vector256.LoadUnsafe(ref p, (nuint)(3 * blk)));
            }
            int r = rb * 8;
            Store8(a0 - Vector256.LoadUnsafe(ref corr, (nuint)r), acc, r);
            Store8(a1 - Vector256.LoadUnsafe(ref corr, (nuint)(r + 8)), acc, r + 8);
            Store8(a2 - Vector256.LoadUnsafe(ref corr, (nuint)(r + 16)), acc, r + 16);
            Store8(a3 - Vector256.LoadUnsafe(ref corr, (nuint)(r + 24)), acc, r + 24);
        }
        // Leftover blocks: even and odd quads in two chains, so vpdpbusd latency is half hidden.
        for (; rb < nb; rb++)
        {
            ref sbyte b0 = ref Unsafe.Add(ref wr, rb * blk);
            Vector256<int> a0 = default, a1 = default;
            int kb = 0;
            for (; kb + 2 <= k4; kb += 2)
            {
                a0 = AvxVnni.MultiplyWideningAndAdd(a0, Vector256.Create(Unsafe.Add(ref q, kb) ^ Flip).AsByte(), Vector256.LoadUnsafe(ref b0, (nuint)(kb * 32)));
                a1 = AvxVnni.MultiplyWideningAndAdd(a1, Vector256.Create(Unsafe.Add(ref q, kb + 1) ^ Flip).AsByte(), Vector256.LoadUnsafe(ref b0, (nuint)(kb * 32 + 32)));
            }
            if (kb < k4)
                a0 = AvxVnni.MultiplyWideningAndAdd(a0, Vector256.Create(Unsafe.Add(ref q, kb) ^ Flip).AsByte(), Vector256.LoadUnsafe(ref b0, (nuint)(kb * 32)));
            Store8(a0 + a1 - Vector256.LoadUnsafe(ref corr, (nuint)(rb * 8)), acc, rb * 8);
        }
    }
}
