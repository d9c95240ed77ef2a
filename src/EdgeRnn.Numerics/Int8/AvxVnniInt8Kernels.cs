using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// x64 AVX-VNNI (256-bit vpdpbusd): unsigned × signed bytes accumulated straight into int32 lanes, so there is no int16
/// intermediate at all: x goes in as x + 128 (<see cref="QuadFlip"/>) and the packed matrix's 128·Σw is subtracted at the
/// end. .NET 10 exposes no 512-bit VNNI class for this CPU (only AVX10, absent on Zen 4).
/// </summary>
public sealed class AvxVnniInt8Kernels : Int8Kernels
{
    public static readonly AvxVnniInt8Kernels Instance = new();
    private AvxVnniInt8Kernels() { }

    public override string PathName => "avx-vnni (vpdpbusd, 256-bit; row-interleaved matvec feeds x+128)";

    /// <summary>XOR 0x80 in every byte: x + 128 as unsigned (padding bytes flip too, but meet zero weights).</summary>
    private const int Flip = unchecked((int)0x80808080);

    protected override int QuadFlip => Flip;

    /// <summary>
    /// vpdpbusd takes unsigned × signed, so x goes in as x + 128 (0..255) against the signed weights, and the packed
    /// matrix's per-row 128·Σw is subtracted at the end: exact, and one instruction per 32 MACs (no vpsignb, no vpabsb).
    /// </summary>
    protected override void PackedProduct(PackedInt8Matrix w, ref int q, Span<int> acc)
    {
        int k4 = w.K4, nb = w.RowBlocks;
        // Byte offsets of the next row blocks, hoisted so the inner loop is two pointer bumps, one broadcast and the
        // vpdpbusd instructions with register-indexed memory operands; two base pointers (blocks 0-3 and 4-7) need only
        // three offset registers, so nothing spills (a spilled offset is a reload per iteration, on the load ports that
        // bound this loop).
        nuint o1 = (nuint)(k4 * 32), o2 = 2 * o1, o3 = 3 * o1;
        ref sbyte wr = ref w.DataRef;
        ref int corr = ref MemoryMarshal.GetArrayDataReference(w.RowCorrection);
        int rb = 0;
        // Eight row blocks (64 rows) per pass: eight independent vpdpbusd chains, and each broadcast quad of x feeds
        // eight instructions.
        for (; rb + 8 <= nb; rb += 8)
        {
            ref sbyte p = ref Unsafe.Add(ref wr, rb * (int)o1);
            ref sbyte p4 = ref Unsafe.Add(ref p, 4 * o1);
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            for (int kb = 0; kb < k4; kb++, p = ref Unsafe.Add(ref p, 32), p4 = ref Unsafe.Add(ref p4, 32))
            {
                var xu = Vector256.Create(Unsafe.Add(ref q, kb)).AsByte();
                a0 = AvxVnni.MultiplyWideningAndAdd(a0, xu, Vector256.LoadUnsafe(ref p));
                a1 = AvxVnni.MultiplyWideningAndAdd(a1, xu, Vector256.LoadUnsafe(ref p, o1));
                a2 = AvxVnni.MultiplyWideningAndAdd(a2, xu, Vector256.LoadUnsafe(ref p, o2));
                a3 = AvxVnni.MultiplyWideningAndAdd(a3, xu, Vector256.LoadUnsafe(ref p, o3));
                a4 = AvxVnni.MultiplyWideningAndAdd(a4, xu, Vector256.LoadUnsafe(ref p4));
                a5 = AvxVnni.MultiplyWideningAndAdd(a5, xu, Vector256.LoadUnsafe(ref p4, o1));
                a6 = AvxVnni.MultiplyWideningAndAdd(a6, xu, Vector256.LoadUnsafe(ref p4, o2));
                a7 = AvxVnni.MultiplyWideningAndAdd(a7, xu, Vector256.LoadUnsafe(ref p4, o3));
            }
            int r = rb * 8;
            Store8(a0 - Vector256.LoadUnsafe(ref corr, (nuint)r), acc, r);
            Store8(a1 - Vector256.LoadUnsafe(ref corr, (nuint)(r + 8)), acc, r + 8);
            Store8(a2 - Vector256.LoadUnsafe(ref corr, (nuint)(r + 16)), acc, r + 16);
            Store8(a3 - Vector256.LoadUnsafe(ref corr, (nuint)(r + 24)), acc, r + 24);
            Store8(a4 - Vector256.LoadUnsafe(ref corr, (nuint)(r + 32)), acc, r + 32);
            Store8(a5 - Vector256.LoadUnsafe(ref corr, (nuint)(r + 40)), acc, r + 40);
            Store8(a6 - Vector256.LoadUnsafe(ref corr, (nuint)(r + 48)), acc, r + 48);
            Store8(a7 - Vector256.LoadUnsafe(ref corr, (nuint)(r + 56)), acc, r + 56);
        }
        // Fewer than eight blocks left: one or two at a time, each over even and odd quads in two chains.
        for (; rb + 2 <= nb; rb += 2)
        {
            ref sbyte p = ref Unsafe.Add(ref wr, rb * (int)o1);
            Vector256<int> a0 = default, a1 = default, c0 = default, c1 = default;
            int kb = 0;
            for (; kb + 2 <= k4; kb += 2, p = ref Unsafe.Add(ref p, 64))
            {
                var x0 = Vector256.Create(Unsafe.Add(ref q, kb)).AsByte();
                var x1 = Vector256.Create(Unsafe.Add(ref q, kb + 1)).AsByte();
                a0 = AvxVnni.MultiplyWideningAndAdd(a0, x0, Vector256.LoadUnsafe(ref p));
                c0 = AvxVnni.MultiplyWideningAndAdd(c0, x0, Vector256.LoadUnsafe(ref p, o1));
                a1 = AvxVnni.MultiplyWideningAndAdd(a1, x1, Vector256.LoadUnsafe(ref p, 32));
                c1 = AvxVnni.MultiplyWideningAndAdd(c1, x1, Vector256.LoadUnsafe(ref p, o1 + 32));
            }
            if (kb < k4)
            {
                var x0 = Vector256.Create(Unsafe.Add(ref q, kb)).AsByte();
                a0 = AvxVnni.MultiplyWideningAndAdd(a0, x0, Vector256.LoadUnsafe(ref p));
                c0 = AvxVnni.MultiplyWideningAndAdd(c0, x0, Vector256.LoadUnsafe(ref p, o1));
            }
            Store8(a0 + a1 - Vector256.LoadUnsafe(ref corr, (nuint)(rb * 8)), acc, rb * 8);
            Store8(c0 + c1 - Vector256.LoadUnsafe(ref corr, (nuint)(rb * 8 + 8)), acc, rb * 8 + 8);
        }
        if (rb < nb)
        {
            ref sbyte p = ref Unsafe.Add(ref wr, rb * (int)o1);
            Vector256<int> a0 = default, a1 = default;
            int kb = 0;
            for (; kb + 2 <= k4; kb += 2, p = ref Unsafe.Add(ref p, 64))
            {
                a0 = AvxVnni.MultiplyWideningAndAdd(a0, Vector256.Create(Unsafe.Add(ref q, kb)).AsByte(), Vector256.LoadUnsafe(ref p));
                a1 = AvxVnni.MultiplyWideningAndAdd(a1, Vector256.Create(Unsafe.Add(ref q, kb + 1)).AsByte(), Vector256.LoadUnsafe(ref p, 32));
            }
            if (kb < k4) a0 = AvxVnni.MultiplyWideningAndAdd(a0, Vector256.Create(Unsafe.Add(ref q, kb)).AsByte(), Vector256.LoadUnsafe(ref p));
            Store8(a0 + a1 - Vector256.LoadUnsafe(ref corr, (nuint)(rb * 8)), acc, rb * 8);
        }
    }
}
