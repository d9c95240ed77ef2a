using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("EdgeRnn.Numerics.Tests")]

namespace EdgeRnn.Numerics;

/// <summary>
/// Float32 kernels of the recurrent cells and their training, all row-major. Each has a scalar twin in
/// <see cref="FloatReference"/> with the same signature; tests run both at awkward sizes.
/// The fast paths lean on <see cref="TensorPrimitives"/> (vectorised per ISA by the runtime) plus hand-written kernels:
/// a four-rows-at-a-time dot product for A·Wᵀ on unpacked weights (the streaming reference path); the packed product
/// (<see cref="PackedMatVec"/>, <see cref="PackedMatMul"/>: weights stored column by column in tiles, x broadcast, no
/// horizontal sums) that the float step and training's forward products run; and column slabs held in registers for
/// the two gradient products. Each has a scalar tail so every length works.
/// Nothing here allocates.
/// Multiply-adds are MultiplyAddEstimate (one FMA where the target has it, else a multiply and an add), never
/// FusedMultiplyAdd: a fused result must be exact, so on a target without FMA (the portable linux-x64 build, whose
/// baseline ISA has none) the runtime computes it in software per element, which made that build's float step 42× slower.
/// </summary>
public static class FloatKernels
{
    // Widths the hand-written kernels may use. Tests lower them to run the 128-bit and fallback paths on any machine
    // (with both off, dot products fall back to TensorPrimitives.Dot and accumulates to plain loops).
    internal static bool Use256 = Vector256.IsHardwareAccelerated;
    internal static bool Use128 = Vector128.IsHardwareAccelerated;

    /// <summary>The lane count <see cref="PackedMatVec"/> should be packed for on this machine: 8 (256-bit), 4 (128-bit),
    /// or 0 when neither width is hardware-accelerated (the caller then keeps to the unpacked kernels).</summary>
    public static int PackedLanes => Use256 ? 8 : Use128 ? 4 : 0;

    /// <summary>The widest path the hand-written kernels take on this machine (for `edgernn version` / self-test).</summary>
    public static string PathName => Use256 ? "vector256" : Use128 ? "vector128" : "scalar (TensorPrimitives for dot products)";

    /// <summary>y = a · wᵀ + bias (bias broadcast over rows; empty bias means none). The streaming step's matrix-vector
    /// product is the m = 1 case.</summary>
    // y: [M, N]; a: [M, K]; w: [N, K]; bias: [N] or empty
    public static void MatMulTransposed(Span<float> y, ReadOnlySpan<float> a, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int m, int n, int k)
    {
        CheckSizes(y.Length, m * n, a.Length, m * k, w.Length, n * k);
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException("bias length must be N", nameof(bias));
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<float> ai = a.Slice(i * k, k);
            Span<float> yi = y.Slice(i * n, n);
            int j = 0;
            if ((Use256 && k >= Vector256<float>.Count) || (Use128 && k >= Vector128<float>.Count))
            {
                for (; j + 4 <= n; j += 4)
                    Dot4(ai, w.Slice(j * k, 4 * k), k, yi.Slice(j, 4));
            }
            for (; j < n; j++) yi[j] = TensorPrimitives.Dot(ai, w.Slice(j * k, k));
            if (!bias.IsEmpty) TensorPrimitives.Add(yi, bias, yi);
        }
    }

    // Four dot products sharing one read of a: out[r] = a · w[r]. w: [4, K]; out: [4]
    private static void Dot4(ReadOnlySpan<float> a, ReadOnlySpan<float> w, int k, Span<float> result)
    {
        if (Use256 && k >= Vector256<float>.Count) Dot4<Width256>(a, w, k, result);
        else Dot4<Width128>(a, w, k, result); // 128-bit lanes: ARM64 NEON (the Raspberry Pi) and x64 without AVX.
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4<W>(ReadOnlySpan<float> a, ReadOnlySpan<float> w, int k, Span<float> result) where W : struct, IFloatWidth<W>
    {
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float p0 = ref MemoryMarshal.GetReference(w);
        ref float p1 = ref Unsafe.Add(ref p0, k);
        ref float p2 = ref Unsafe.Add(ref p0, 2 * k);
        ref float p3 = ref Unsafe.Add(ref p0, 3 * k);
        int i = 0;
        W s0 = W.Zero, s1 = W.Zero, s2 = W.Zero, s3 = W.Zero;
        for (; i + W.Count <= k; i += W.Count)
        {
            var va = W.Load(ref pa, i);
            s0 = W.MultiplyAddEstimate(va, W.Load(ref p0, i), s0);
            s1 = W.MultiplyAddEstimate(va, W.Load(ref p1, i), s1);
            s2 = W.MultiplyAddEstimate(va, W.Load(ref p2, i), s2);
            s3 = W.MultiplyAddEstimate(va, W.Load(ref p3, i), s3);
        }
        float r0 = W.Sum(s0), r1 = W.Sum(s1), r2 = W.Sum(s2), r3 = W.Sum(s3);
        // Tail shorter than a vector: plain scalar, so every k works.
        for (; i < k; i++)
        {
            float v = Unsafe.Add(ref pa, i);
            r0 += v * Unsafe.Add(ref p0, i); r1 += v * Unsafe.Add(ref p1, i);
            r2 += v * Unsafe.Add(ref p2, i); r3 += v * Unsafe.Add(ref p3, i);
        }
        result[0] = r0; result[1] = r1; result[2] = r2; result[3] = r3;
    }

    /// <summary>
    /// y = P·x + bias for a weight matrix packed for batch 1 (see <see cref="PackTile"/>): output rows come in tiles of four
    /// vectors of <paramref name="lanes"/> rows; within a tile the weights are stored column by column, so each x[k] is
    /// broadcast once and multiplies four (eight, with two columns in flight) contiguous vectors of weights into
    /// accumulators that never need a horizontal sum, and the whole product is one sequential read of P.
    /// lanes must be 8 (256-bit path) or 4 (128-bit path); a width this machine lacks runs the reference loops.
    /// </summary>
    // y: [tiles, 4, lanes]; packed: [tiles, K, 4, lanes]; bias: [tiles, 4, lanes]; x: [K]
    public static void PackedMatVec(Span<float> y, ReadOnlySpan<float> packed, ReadOnlySpan<float> bias, ReadOnlySpan<float> x, int tiles, int k, int lanes)
    {
        int tile = 4 * lanes;
        if (y.Length < tiles * tile || packed.Length < tiles * k * tile || bias.Length < tiles * tile || x.Length < k)
            throw new ArgumentException($"span sizes do not agree with {tiles} tiles of {tile} rows by {k}");
        if (lanes == 8 && Use256) PackedMatVec256(y, packed, bias, x, tiles, k);
        else if (lanes == 4 && Use128) PackedMatVec128(y, packed, bias, x, tiles, k);
        else FloatReference.PackedMatVec(y, packed, bias, x, tiles, k, lanes);
    }

    // Written on Vector256 directly, not through the width structs: through them the JIT does not fold the weight load into
    // the FMA (a load, vfmadd213ps and a vmovaps per multiply-add instead of one vfmadd231ps with a memory operand),
    // a third more instructions in the hottest loop of the float step. The 128-bit twin below is the same code.
    private static void PackedMatVec256(Span<float> y, ReadOnlySpan<float> packed, ReadOnlySpan<float> bias, ReadOnlySpan<float> x, int tiles, int k)
    {
        const int l = 8, tile = 4 * 8;
        ref float pt = ref MemoryMarshal.GetReference(packed);
        ref float pb = ref MemoryMarshal.GetReference(bias);
        ref float py = ref MemoryMarshal.GetReference(y);
        for (int t = 0; t < tiles; t++)
        {
            // References advance and offsets are constants; the broadcast x[k] is the FMA's first operand, so the weight
            // load becomes its memory operand.
            ref float xq = ref MemoryMarshal.GetReference(x);
            Vector256<float> a0 = Vector256.LoadUnsafe(ref pb), a1 = Vector256.LoadUnsafe(ref pb, l), a2 = Vector256.LoadUnsafe(ref pb, 2 * l), a3 = Vector256.LoadUnsafe(ref pb, 3 * l);
            // Two columns in flight: eight independent FMA chains hide the FMA latency.
            Vector256<float> b0 = Vector256<float>.Zero, b1 = Vector256<float>.Zero, b2 = Vector256<float>.Zero, b3 = Vector256<float>.Zero;
            int q = 0;
            for (; q + 2 <= k; q += 2)
            {
                Vector256<float> x0 = Vector256.Create(xq), x1 = Vector256.Create(Unsafe.Add(ref xq, 1));
                a0 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref pt), a0);
                a1 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref pt, l), a1);
                a2 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref pt, 2 * l), a2);
                a3 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref pt, 3 * l), a3);
                b0 = Vector256.MultiplyAddEstimate(x1, Vector256.LoadUnsafe(ref pt, 4 * l), b0);
                b1 = Vector256.MultiplyAddEstimate(x1, Vector256.LoadUnsafe(ref pt, 5 * l), b1);
                b2 = Vector256.MultiplyAddEstimate(x1, Vector256.LoadUnsafe(ref pt, 6 * l), b2);
                b3 = Vector256.MultiplyAddEstimate(x1, Vector256.LoadUnsafe(ref pt, 7 * l), b3);
                pt = ref Unsafe.Add(ref pt, 2 * tile);
                xq = ref Unsafe.Add(ref xq, 2);
            }
            if (q < k)
            {
                Vector256<float> x0 = Vector256.Create(xq);
                a0 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref pt), a0);
                a1 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref pt, l), a1);
                a2 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref pt, 2 * l), a2);
                a3 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref pt, 3 * l), a3);
                pt = ref Unsafe.Add(ref pt, tile);
            }
            (a0 + b0).StoreUnsafe(ref py);
            (a1 + b1).StoreUnsafe(ref py, l);
            (a2 + b2).StoreUnsafe(ref py, 2 * l);
            (a3 + b3).StoreUnsafe(ref py, 3 * l);
            pb = ref Unsafe.Add(ref pb, tile);
            py = ref Unsafe.Add(ref py, tile);
        }
    }

    // The 128-bit twin of PackedMatVec256 (ARM64 NEON, SSE-only x64).
    private static void PackedMatVec128(Span<float> y, ReadOnlySpan<float> packed, ReadOnlySpan<float> bias, ReadOnlySpan<float> x, int tiles, int k)
    {
        const int l = 4, tile = 4 * 4;
        ref float pt = ref MemoryMarshal.GetReference(packed);
        ref float pb = ref MemoryMarshal.GetReference(bias);
        ref float py = ref MemoryMarshal.GetReference(y);
        for (int t = 0; t < tiles; t++)
        {
            // References advance and offsets are constants; the broadcast x[k] is the FMA's first operand, so the weight
            // load becomes its memory operand.
            ref float xq = ref MemoryMarshal.GetReference(x);
            Vector128<float> a0 = Vector128.LoadUnsafe(ref pb), a1 = Vector128.LoadUnsafe(ref pb, l), a2 = Vector128.LoadUnsafe(ref pb, 2 * l), a3 = Vector128.LoadUnsafe(ref pb, 3 * l);
            // Two columns in flight: eight independent FMA chains hide the FMA latency.
            Vector128<float> b0 = Vector128<float>.Zero, b1 = Vector128<float>.Zero, b2 = Vector128<float>.Zero, b3 = Vector128<float>.Zero;
            int q = 0;
            for (; q + 2 <= k; q += 2)
            {
                Vector128<float> x0 = Vector128.Create(xq), x1 = Vector128.Create(Unsafe.Add(ref xq, 1));
                a0 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref pt), a0);
                a1 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref pt, l), a1);
                a2 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref pt, 2 * l), a2);
                a3 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref pt, 3 * l), a3);
                b0 = Vector128.MultiplyAddEstimate(x1, Vector128.LoadUnsafe(ref pt, 4 * l), b0);
                b1 = Vector128.MultiplyAddEstimate(x1, Vector128.LoadUnsafe(ref pt, 5 * l), b1);
                b2 = Vector128.MultiplyAddEstimate(x1, Vector128.LoadUnsafe(ref pt, 6 * l), b2);
                b3 = Vector128.MultiplyAddEstimate(x1, Vector128.LoadUnsafe(ref pt, 7 * l), b3);
                pt = ref Unsafe.Add(ref pt, 2 * tile);
                xq = ref Unsafe.Add(ref xq, 2);
            }
            if (q < k)
            {
                Vector128<float> x0 = Vector128.Create(xq);
                a0 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref pt), a0);
                a1 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref pt, l), a1);
                a2 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref pt, 2 * l), a2);
                a3 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref pt, 3 * l), a3);
                pt = ref Unsafe.Add(ref pt, tile);
            }
            (a0 + b0).StoreUnsafe(ref py);
            (a1 + b1).StoreUnsafe(ref py, l);
            (a2 + b2).StoreUnsafe(ref py, 2 * l);
            (a3 + b3).StoreUnsafe(ref py, 3 * l);
            pb = ref Unsafe.Add(ref pb, tile);
            py = ref Unsafe.Add(ref py, tile);
        }
    }

    /// <summary>
    /// Packs one tile of <see cref="PackedMatVec"/>: rowOf(r) is the source row of tile row r (r in [0, 4·lanes), vector
    /// r / lanes, lane r % lanes), or -1 for a padding row (zero weights and bias). Columns [0, k0) come from w0 [rows, k0],
    /// columns [k0, k0 + k1) from w1 [rows, k1] (the input and hidden weights side by side, one product over [x; h]);
    /// a negative rowOf1(r) leaves that part zero. Bias is b0[row0] + b1[row1] (either may be absent).
    /// </summary>
    // packedTile: [k0 + k1, 4·lanes]; biasTile: [4·lanes]
    public static void PackTile(Span<float> packedTile, Span<float> biasTile, int lanes,
        ReadOnlySpan<float> w0, ReadOnlySpan<float> b0, int k0, ReadOnlySpan<int> rowOf0,
        ReadOnlySpan<float> w1, ReadOnlySpan<float> b1, int k1, ReadOnlySpan<int> rowOf1)
    {
        int tile = 4 * lanes, k = k0 + k1;
        if (packedTile.Length != k * tile || biasTile.Length != tile || rowOf0.Length != tile || (k1 > 0 && rowOf1.Length != tile))
            throw new ArgumentException("tile sizes do not agree");
        for (int r = 0; r < tile; r++)
        {
            int r0 = rowOf0[r], r1 = k1 > 0 || !b1.IsEmpty ? rowOf1[r] : -1;
            float b = 0f;
            if (r0 >= 0 && !b0.IsEmpty) b = b0[r0];
            if (r1 >= 0 && !b1.IsEmpty) b += b1[r1];
            biasTile[r] = b;
            for (int q = 0; q < k0; q++) packedTile[q * tile + r] = r0 >= 0 ? w0[r0 * k0 + q] : 0f;
            for (int q = 0; q < k1; q++) packedTile[(k0 + q) * tile + r] = r1 >= 0 ? w1[r1 * k1 + q] : 0f;
        }
    }

    /// <summary>Floats <see cref="PackRows"/> writes for w [N, K] at a lane count: whole tiles of 4·lanes rows, weights and bias.</summary>
    public static int PackedRowsSize(int n, int k, int lanes) => (n + 4 * lanes - 1) / (4 * lanes) * (k + 1) * 4 * lanes;

    /// <summary>Packs w [N, K] and bias [N] (or empty: none) for <see cref="PackedMatMul"/>: the weights of
    /// <see cref="PackedMatVec"/> for tiles of 4·lanes consecutive rows (rows past N zero), then the bias tiles.</summary>
    // packed: [PackedRowsSize(N, K, lanes)]
    public static void PackRows(Span<float> packed, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int n, int k, int lanes)
    {
        int tile = 4 * lanes, tiles = (n + tile - 1) / tile;
        if (packed.Length < PackedRowsSize(n, k, lanes) || w.Length != n * k || (!bias.IsEmpty && bias.Length != n))
            throw new ArgumentException("span sizes do not agree with the matrix sizes");
        Span<int> rows = stackalloc int[tile];
        for (int t = 0; t < tiles; t++)
        {
            for (int r = 0; r < tile; r++) rows[r] = t * tile + r < n ? t * tile + r : -1;
            PackTile(packed.Slice(t * k * tile, k * tile), packed.Slice(tiles * k * tile + t * tile, tile), lanes,
                w, bias, k, rows, default, default, 0, default);
        }
    }

    /// <summary>y = a · wᵀ + bias with w and bias packed by <see cref="PackRows"/>: <see cref="MatMulTransposed"/> for many
    /// rows (training's input-side and per-step products), every row a <see cref="PackedMatVec"/> with no horizontal sums.</summary>
    // y: [M, N]; a: [M, K]; packed: [PackedRowsSize(N, K, lanes)]
    public static void PackedMatMul(Span<float> y, ReadOnlySpan<float> a, ReadOnlySpan<float> packed, int m, int n, int k, int lanes)
    {
        int tile = 4 * lanes, tiles = (n + tile - 1) / tile, full = n / tile;
        if (y.Length != m * n || a.Length != m * k || packed.Length < PackedRowsSize(n, k, lanes))
            throw new ArgumentException("span sizes do not agree with the matrix sizes");
        ReadOnlySpan<float> w = packed.Slice(0, tiles * k * tile), b = packed.Slice(tiles * k * tile, tiles * tile);
        Span<float> last = stackalloc float[tile];
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<float> ai = a.Slice(i * k, k);
            Span<float> yi = y.Slice(i * n, n);
            if (full > 0) PackedMatVec(yi, w, b, ai, full, k, lanes);
            if (full < tiles)
            {
                // The partial last tile goes through a whole-tile buffer, so y needs no padding.
                PackedMatVec(last, w.Slice(full * k * tile), b.Slice(full * tile), ai, 1, k, lanes);
                last.Slice(0, n - full * tile).CopyTo(yi.Slice(full * tile));
            }
        }
    }

    /// <summary>da += dy · w (the input gradient of <see cref="MatMulTransposed"/>).</summary>
    // da: [M, K]; dy: [M, N]; w: [N, K]
    public static void MatMulAccumulate(Span<float> da, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, int m, int n, int k)
    {
        CheckSizes(da.Length, m * k, dy.Length, m * n, w.Length, n * k);
        AccumulateProducts(ref MemoryMarshal.GetReference(da), ref MemoryMarshal.GetReference(dy), n, 1, ref MemoryMarshal.GetReference(w), m, n, k);
    }

    // out[i, :] += Σ_j d(i, j) · w[j, :] with d(i, j) = pd[i·rs + j·cs], for i < m, j < n; out: [M, K]; w: [N, K].
    // MatMulAccumulate is d = dy (rs = N, cs = 1); MatMulTransposedLeftAccumulate is d = dyᵀ (rs = 1, cs = N).
    private static void AccumulateProducts(ref float pa, ref float pd, int rs, int cs, ref float pw, int m, int n, int k)
    {
        int q = 0;
        if (Use256) q = AccumulateColumns256(ref pa, ref pd, rs, cs, ref pw, m, n, k, q);
        if (Use128) q = AccumulateColumns128(ref pa, ref pd, rs, cs, ref pw, m, n, k, q);
        for (int i = 0; i < m; i++)
            for (int c = q; c < k; c++)
            {
                float s = 0f;
                for (int j = 0; j < n; j++) s += Unsafe.Add(ref pd, i * rs + j * cs) * Unsafe.Add(ref pw, j * k + c);
                Unsafe.Add(ref pa, i * k + c) += s;
            }
    }

    // Columns [q, k) of MatMulAccumulate in slabs of four vectors (two rows of da at once: eight accumulators, each w
    // load feeding two FMAs), then single vectors; da is read and written once per slab, not once per w row. Returns
    // where the whole vectors stop. On Vector256 directly for the reason given at PackedMatVec256; the twin below is the same.
    private static int AccumulateColumns256(ref float pa, ref float pd, int rs, int cs, ref float pw, int m, int n, int k, int q)
    {
        const int l = 8;
        for (; q + 4 * l <= k; q += 4 * l)
        {
            int i = 0;
            for (; i + 2 <= m; i += 2)
            {
                ref float a0 = ref Unsafe.Add(ref pa, i * k + q);
                ref float a1 = ref Unsafe.Add(ref pa, (i + 1) * k + q);
                Vector256<float> s0 = Vector256.LoadUnsafe(ref a0), s1 = Vector256.LoadUnsafe(ref a0, l), s2 = Vector256.LoadUnsafe(ref a0, 2 * l), s3 = Vector256.LoadUnsafe(ref a0, 3 * l);
                Vector256<float> t0 = Vector256.LoadUnsafe(ref a1), t1 = Vector256.LoadUnsafe(ref a1, l), t2 = Vector256.LoadUnsafe(ref a1, 2 * l), t3 = Vector256.LoadUnsafe(ref a1, 3 * l);
                ref float d0 = ref Unsafe.Add(ref pd, i * rs);
                ref float d1 = ref Unsafe.Add(ref pd, (i + 1) * rs);
                ref float wj = ref Unsafe.Add(ref pw, q);
                for (int j = 0; j < n; j++, wj = ref Unsafe.Add(ref wj, k), d0 = ref Unsafe.Add(ref d0, cs), d1 = ref Unsafe.Add(ref d1, cs))
                {
                    Vector256<float> w0 = Vector256.LoadUnsafe(ref wj), w1 = Vector256.LoadUnsafe(ref wj, l), w2 = Vector256.LoadUnsafe(ref wj, 2 * l), w3 = Vector256.LoadUnsafe(ref wj, 3 * l);
                    Vector256<float> x0 = Vector256.Create(d0), x1 = Vector256.Create(d1);
                    s0 = Vector256.MultiplyAddEstimate(x0, w0, s0); s1 = Vector256.MultiplyAddEstimate(x0, w1, s1);
                    s2 = Vector256.MultiplyAddEstimate(x0, w2, s2); s3 = Vector256.MultiplyAddEstimate(x0, w3, s3);
                    t0 = Vector256.MultiplyAddEstimate(x1, w0, t0); t1 = Vector256.MultiplyAddEstimate(x1, w1, t1);
                    t2 = Vector256.MultiplyAddEstimate(x1, w2, t2); t3 = Vector256.MultiplyAddEstimate(x1, w3, t3);
                }
                s0.StoreUnsafe(ref a0); s1.StoreUnsafe(ref a0, l); s2.StoreUnsafe(ref a0, 2 * l); s3.StoreUnsafe(ref a0, 3 * l);
                t0.StoreUnsafe(ref a1); t1.StoreUnsafe(ref a1, l); t2.StoreUnsafe(ref a1, 2 * l); t3.StoreUnsafe(ref a1, 3 * l);
            }
            for (; i < m; i++)
            {
                ref float a0 = ref Unsafe.Add(ref pa, i * k + q);
                Vector256<float> s0 = Vector256.LoadUnsafe(ref a0), s1 = Vector256.LoadUnsafe(ref a0, l), s2 = Vector256.LoadUnsafe(ref a0, 2 * l), s3 = Vector256.LoadUnsafe(ref a0, 3 * l);
                ref float d0 = ref Unsafe.Add(ref pd, i * rs);
                ref float wj = ref Unsafe.Add(ref pw, q);
                for (int j = 0; j < n; j++, wj = ref Unsafe.Add(ref wj, k), d0 = ref Unsafe.Add(ref d0, cs))
                {
                    Vector256<float> x0 = Vector256.Create(d0);
                    s0 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref wj), s0); s1 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref wj, l), s1);
                    s2 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref wj, 2 * l), s2); s3 = Vector256.MultiplyAddEstimate(x0, Vector256.LoadUnsafe(ref wj, 3 * l), s3);
                }
                s0.StoreUnsafe(ref a0); s1.StoreUnsafe(ref a0, l); s2.StoreUnsafe(ref a0, 2 * l); s3.StoreUnsafe(ref a0, 3 * l);
            }
        }
        for (; q + l <= k; q += l)
        {
            for (int i = 0; i < m; i++)
            {
                ref float d0 = ref Unsafe.Add(ref pd, i * rs);
                ref float wj = ref Unsafe.Add(ref pw, q);
                ref float a0 = ref Unsafe.Add(ref pa, i * k + q);
                // Two chains (even and odd j) so consecutive FMAs do not wait on each other.
                Vector256<float> s0 = Vector256.LoadUnsafe(ref a0), s1 = Vector256<float>.Zero;
                int j = 0;
                for (; j + 2 <= n; j += 2, wj = ref Unsafe.Add(ref wj, 2 * k), d0 = ref Unsafe.Add(ref d0, 2 * cs))
                {
                    s0 = Vector256.MultiplyAddEstimate(Vector256.Create(d0), Vector256.LoadUnsafe(ref wj), s0);
                    s1 = Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(ref d0, cs)), Vector256.LoadUnsafe(ref wj, (nuint)k), s1);
                }
                if (j < n) s0 = Vector256.MultiplyAddEstimate(Vector256.Create(d0), Vector256.LoadUnsafe(ref wj), s0);
                (s0 + s1).StoreUnsafe(ref a0);
            }
        }
        return q;
    }

    // The 128-bit twin of AccumulateColumns256.
    private static int AccumulateColumns128(ref float pa, ref float pd, int rs, int cs, ref float pw, int m, int n, int k, int q)
    {
        const int l = 4;
        for (; q + 4 * l <= k; q += 4 * l)
        {
            int i = 0;
            for (; i + 2 <= m; i += 2)
            {
                ref float a0 = ref Unsafe.Add(ref pa, i * k + q);
                ref float a1 = ref Unsafe.Add(ref pa, (i + 1) * k + q);
                Vector128<float> s0 = Vector128.LoadUnsafe(ref a0), s1 = Vector128.LoadUnsafe(ref a0, l), s2 = Vector128.LoadUnsafe(ref a0, 2 * l), s3 = Vector128.LoadUnsafe(ref a0, 3 * l);
                Vector128<float> t0 = Vector128.LoadUnsafe(ref a1), t1 = Vector128.LoadUnsafe(ref a1, l), t2 = Vector128.LoadUnsafe(ref a1, 2 * l), t3 = Vector128.LoadUnsafe(ref a1, 3 * l);
                ref float d0 = ref Unsafe.Add(ref pd, i * rs);
                ref float d1 = ref Unsafe.Add(ref pd, (i + 1) * rs);
                ref float wj = ref Unsafe.Add(ref pw, q);
                for (int j = 0; j < n; j++, wj = ref Unsafe.Add(ref wj, k), d0 = ref Unsafe.Add(ref d0, cs), d1 = ref Unsafe.Add(ref d1, cs))
                {
                    Vector128<float> w0 = Vector128.LoadUnsafe(ref wj), w1 = Vector128.LoadUnsafe(ref wj, l), w2 = Vector128.LoadUnsafe(ref wj, 2 * l), w3 = Vector128.LoadUnsafe(ref wj, 3 * l);
                    Vector128<float> x0 = Vector128.Create(d0), x1 = Vector128.Create(d1);
                    s0 = Vector128.MultiplyAddEstimate(x0, w0, s0); s1 = Vector128.MultiplyAddEstimate(x0, w1, s1);
                    s2 = Vector128.MultiplyAddEstimate(x0, w2, s2); s3 = Vector128.MultiplyAddEstimate(x0, w3, s3);
                    t0 = Vector128.MultiplyAddEstimate(x1, w0, t0); t1 = Vector128.MultiplyAddEstimate(x1, w1, t1);
                    t2 = Vector128.MultiplyAddEstimate(x1, w2, t2); t3 = Vector128.MultiplyAddEstimate(x1, w3, t3);
                }
                s0.StoreUnsafe(ref a0); s1.StoreUnsafe(ref a0, l); s2.StoreUnsafe(ref a0, 2 * l); s3.StoreUnsafe(ref a0, 3 * l);
                t0.StoreUnsafe(ref a1); t1.StoreUnsafe(ref a1, l); t2.StoreUnsafe(ref a1, 2 * l); t3.StoreUnsafe(ref a1, 3 * l);
            }
            for (; i < m; i++)
            {
                ref float a0 = ref Unsafe.Add(ref pa, i * k + q);
                Vector128<float> s0 = Vector128.LoadUnsafe(ref a0), s1 = Vector128.LoadUnsafe(ref a0, l), s2 = Vector128.LoadUnsafe(ref a0, 2 * l), s3 = Vector128.LoadUnsafe(ref a0, 3 * l);
                ref float d0 = ref Unsafe.Add(ref pd, i * rs);
                ref float wj = ref Unsafe.Add(ref pw, q);
                for (int j = 0; j < n; j++, wj = ref Unsafe.Add(ref wj, k), d0 = ref Unsafe.Add(ref d0, cs))
                {
                    Vector128<float> x0 = Vector128.Create(d0);
                    s0 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref wj), s0); s1 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref wj, l), s1);
                    s2 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref wj, 2 * l), s2); s3 = Vector128.MultiplyAddEstimate(x0, Vector128.LoadUnsafe(ref wj, 3 * l), s3);
                }
                s0.StoreUnsafe(ref a0); s1.StoreUnsafe(ref a0, l); s2.StoreUnsafe(ref a0, 2 * l); s3.StoreUnsafe(ref a0, 3 * l);
            }
        }
        for (; q + l <= k; q += l)
        {
            for (int i = 0; i < m; i++)
            {
                ref float d0 = ref Unsafe.Add(ref pd, i * rs);
                ref float wj = ref Unsafe.Add(ref pw, q);
                ref float a0 = ref Unsafe.Add(ref pa, i * k + q);
                // Two chains (even and odd j) so consecutive FMAs do not wait on each other.
                Vector128<float> s0 = Vector128.LoadUnsafe(ref a0), s1 = Vector128<float>.Zero;
                int j = 0;
                for (; j + 2 <= n; j += 2, wj = ref Unsafe.Add(ref wj, 2 * k), d0 = ref Unsafe.Add(ref d0, 2 * cs))
                {
                    s0 = Vector128.MultiplyAddEstimate(Vector128.Create(d0), Vector128.LoadUnsafe(ref wj), s0);
                    s1 = Vector128.MultiplyAddEstimate(Vector128.Create(Unsafe.Add(ref d0, cs)), Vector128.LoadUnsafe(ref wj, (nuint)k), s1);
                }
                if (j < n) s0 = Vector128.MultiplyAddEstimate(Vector128.Create(d0), Vector128.LoadUnsafe(ref wj), s0);
                (s0 + s1).StoreUnsafe(ref a0);
            }
        }
        return q;
    }

    /// <summary>dw += dyᵀ · a (the weight gradient of <see cref="MatMulTransposed"/>).</summary>
    // dw: [N, K]; dy: [M, N]; a: [M, K]
    public static void MatMulTransposedLeftAccumulate(Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> a, int m, int n, int k)
    {
        CheckSizes(dw.Length, n * k, dy.Length, m * n, a.Length, m * k);
        if (k < 8 && k * n <= 4096 && (Use256 || Use128))
        {
            // Rows shorter than a vector (a layer's few inputs) would all fall to the scalar columns: form dwᵀ [K, N]
            // instead, whose rows are long, then add it back transposed.
            Span<float> t = stackalloc float[k * n];
            t.Clear();
            AccumulateProducts(ref MemoryMarshal.GetReference(t), ref MemoryMarshal.GetReference(a), 1, k, ref MemoryMarshal.GetReference(dy), k, m, n);
            for (int j = 0; j < n; j++)
                for (int c = 0; c < k; c++) dw[j * k + c] += t[c * n + j];
            return;
        }
        // dw[j, :] += Σ_i dy[i, j] · a[i, :]: column slabs of dw in registers while the rows of a stream past.
        AccumulateProducts(ref MemoryMarshal.GetReference(dw), ref MemoryMarshal.GetReference(dy), 1, n, ref MemoryMarshal.GetReference(a), n, m, k);
    }

    /// <summary>db += Σ_rows dy (the bias gradient).</summary>
    // db: [N]; dy: [M, N]
    public static void SumRowsAccumulate(Span<float> db, ReadOnlySpan<float> dy, int m, int n)
    {
        if (db.Length != n || dy.Length != m * n) throw new ArgumentException("sizes do not agree");
        for (int i = 0; i < m; i++) TensorPrimitives.Add(db, dy.Slice(i * n, n), db);
    }

    // y: [N]; x: [N]
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y) => FloatMath.Sigmoid(x, y);

    // y: [N]; x: [N]
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => FloatMath.Tanh(x, y);

    // y: [N]; x: [N]
    public static void Relu(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Max(x, 0f, y);

    /// <summary>Σ x² in double, so the norm of millions of gradients does not lose its small terms.</summary>
    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        double total = 0;
        const int Chunk = 4096;
        for (int i = 0; i < x.Length; i += Chunk)
        {
            var part = x.Slice(i, Math.Min(Chunk, x.Length - i));
            total += TensorPrimitives.Dot(part, part);
        }
        return total;
    }

    private static void CheckSizes(int y, int yExpected, int a, int aExpected, int w, int wExpected)
    {
        if (y != yExpected || a != aExpected || w != wExpected)
            throw new ArgumentException($"span sizes do not agree with the matrix sizes ({y}/{yExpected}, {a}/{aExpected}, {w}/{wExpected})");
    }
}

/// <summary>Scalar twins of <see cref="FloatKernels"/>: plain loops, the definition the fast paths are tested against.</summary>
public static class FloatReference
{
    // y: [M, N]; a: [M, K]; w: [N, K]; bias: [N] or empty
    public static void MatMulTransposed(Span<float> y, ReadOnlySpan<float> a, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int m, int n, int k)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int q = 0; q < k; q++) s += a[i * k + q] * w[j * k + q];
                y[i * n + j] = bias.IsEmpty ? s : s + bias[j];
            }
    }

    // y: [tiles, 4, lanes]; packed: [tiles, K, 4, lanes]; bias: [tiles, 4, lanes]; x: [K]
    public static void PackedMatVec(Span<float> y, ReadOnlySpan<float> packed, ReadOnlySpan<float> bias, ReadOnlySpan<float> x, int tiles, int k, int lanes)
    {
        int tile = 4 * lanes;
        for (int t = 0; t < tiles; t++)
            for (int r = 0; r < tile; r++)
            {
                float s = bias[t * tile + r];
                for (int q = 0; q < k; q++) s += packed[(t * k + q) * tile + r] * x[q];
                y[t * tile + r] = s;
            }
    }

    // da: [M, K]; dy: [M, N]; w: [N, K]
    public static void MatMulAccumulate(Span<float> da, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, int m, int n, int k)
    {
        for (int i = 0; i < m; i++)
            for (int q = 0; q < k; q++)
            {
                float s = 0;
                for (int j = 0; j < n; j++) s += dy[i * n + j] * w[j * k + q];
                da[i * k + q] += s;
            }
    }

    // dw: [N, K]; dy: [M, N]; a: [M, K]
    public static void MatMulTransposedLeftAccumulate(Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> a, int m, int n, int k)
    {
        for (int j = 0; j < n; j++)
            for (int q = 0; q < k; q++)
            {
                float s = 0;
                for (int i = 0; i < m; i++) s += dy[i * n + j] * a[i * k + q];
                dw[j * k + q] += s;
            }
    }

    // db: [N]; dy: [M, N]
    public static void SumRowsAccumulate(Span<float> db, ReadOnlySpan<float> dy, int m, int n)
    {
        for (int j = 0; j < n; j++)
        {
            float s = 0;
            for (int i = 0; i < m; i++) s += dy[i * n + j];
            db[j] += s;
        }
    }

    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = (float)(1.0 / (1.0 + Math.Exp(-x[i])));
    }

    public static void Tanh(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = (float)Math.Tanh(x[i]);
    }

    public static void Relu(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = x[i] > 0f ? x[i] : 0f;
    }

    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (float v in x) s += (double)v * v;
        return s;
    }
}
