using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Arm = System.Runtime.Intrinsics.Arm;
using X86 = System.Runtime.Intrinsics.X86;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// One packed int8 matrix times many int8 vectors (one per stream), int32 accumulators: the product of the batched
/// forecaster, which steps many streams that share one model. Each vector is prepared into quads by the single-vector
/// kernels of the same <see cref="KernelPath"/> (<see cref="Int8Kernels.PrepareQuads"/>, so AVX-VNNI's x + 128 form is
/// the one its batch kernel reads), and every path returns exactly the integers of the scalar reference
/// (<see cref="ScalarInt8Kernels.MatVec"/> per vector): the sums are exact, so their order does not matter.
/// Why batch: one vector at a time, each weight byte is loaded once per multiply-add instruction, so the product is
/// bound by the loads (and, for many streams with their own weights, by the memory that streams them in). Here a tile
/// of 2 row blocks × 4 vectors loads each 32-byte weight block once for 4 vectors and keeps 8 accumulator chains going.
/// </summary>
public abstract class Int8BatchKernels
{
    /// <summary>Streams per pass over the weights.</summary>
    public const int TileStreams = 4;

    private protected Int8BatchKernels(KernelPath path) => Path = path;

    /// <summary>The path whose <see cref="Int8Kernels.PrepareQuads"/> makes the quads this kernel reads.</summary>
    public KernelPath Path { get; }

    /// <summary>The batch kernels of <paramref name="path"/>. AVX-512BW runs the AVX2 scheme (256-bit): its own single-vector
    /// path needs emulated vpsignb and pair broadcasts, which the table already ranks slower than AVX2.</summary>
    public static Int8BatchKernels For(KernelPath path)
    {
        ArgumentNullException.ThrowIfNull(path);
        _ = path.Kernels; // throws for a path this CPU lacks
        if (path == KernelPath.AvxVnni) return new Driver<VnniDot, Vector256<int>, Vector256<byte>, Vector256<sbyte>>(path);
        if (path == KernelPath.Avx2 || path == KernelPath.Avx512BW) return new Driver<Avx2Dot, Vector256<int>, SignedX256, Vector256<sbyte>>(path);
        if (path == KernelPath.Ssse3) return new Driver<Ssse3Dot, Acc2, SignedX128, Block128>(path);
        if (path == KernelPath.Dp) return new Driver<SdotDot, Acc2, Vector128<sbyte>, Block128>(path);
        if (path == KernelPath.AdvSimd) return new Driver<NeonDot, Acc4, Vector128<sbyte>, Block128>(path);
        if (path == KernelPath.Scalar) return new ScalarBatch(path);
        throw new ArgumentException($"no batch kernels for path {path.Name}", nameof(path));
    }

    /// <summary>
    /// acc[b][r] = Σ_k w[r, k]·x_b[k] for every vector b &lt; acc.Length and row r &lt; w.RowBlocks·8 (padding rows give 0).
    /// </summary>
    /// <param name="quads">[acc.Length, QuadCount(w.Cols)] vector b's quads at b·QuadCount(w.Cols), made by <see cref="Path"/>'s PrepareQuads</param>
    /// <param name="acc">one array per vector, each at least w.RowBlocks·8 long, overwritten up to there</param>
    public void MatMulPacked(PackedInt8Matrix w, ReadOnlySpan<int> quads, ReadOnlySpan<int[]> acc)
    {
        ArgumentNullException.ThrowIfNull(w);
        int k4 = Int8Kernels.QuadCount(w.Cols);
        if (quads.Length < (long)acc.Length * k4) throw new ArgumentException($"quads holds {quads.Length} values, {acc.Length} vectors of {w.Cols} columns need {acc.Length * k4}", nameof(quads));
        int rows = w.RowBlocks * PackedInt8Matrix.BlockRows;
        for (int b = 0; b < acc.Length; b++)
            if (acc[b] is null || acc[b].Length < rows) throw new ArgumentException($"acc[{b}] must hold at least {rows} values (the matrix's row blocks)", nameof(acc));
        if (w.RowBlocks == 0 || acc.Length == 0) return;
        Product(w, quads, k4, acc);
    }

    /// <summary>The path's product; arguments checked. q4: the quads per vector (k4 of them are read: w.K4, or 1 for 0 columns).</summary>
    private protected abstract void Product(PackedInt8Matrix w, ReadOnlySpan<int> quads, int q4, ReadOnlySpan<int[]> acc);

    /// <summary>The reference: plain loops over the layout (<see cref="PackedInt8Matrix.IndexOf"/>).</summary>
    private sealed class ScalarBatch(KernelPath path) : Int8BatchKernels(path)
    {
        private protected override void Product(PackedInt8Matrix w, ReadOnlySpan<int> quads, int q4, ReadOnlySpan<int[]> acc)
        {
            var data = w.Data;
            var bytes = MemoryMarshal.AsBytes(quads);
            for (int b = 0; b < acc.Length; b++)
            {
                var x = MemoryMarshal.Cast<byte, sbyte>(bytes.Slice(b * q4 * 4, w.Cols));
                for (int r = 0; r < w.RowBlocks * PackedInt8Matrix.BlockRows; r++)
                {
                    int s = 0;
                    if (r < w.Rows) for (int k = 0; k < w.Cols; k++) s += data[w.IndexOf(r, k)] * x[k];
                    acc[b][r] = s;
                }
            }
        }
    }

    /// <summary>
    /// One instruction set's block product, the maths only (the loops are <see cref="Driver{D, A, X, W}"/>'s): a 32-byte
    /// weight block (8 rows × 4 columns) times one vector's broadcast quad, added into 8 int32 row sums.
    /// </summary>
    private interface IBlockDot<A, X, W> where A : struct where X : struct where W : struct
    {
        static abstract A Zero { get; }
        /// <summary>The quad (4 bytes of one vector) in the form <see cref="Madd"/> takes, computed once per tile row.</summary>
        static abstract X Broadcast(int quad);
        static abstract W LoadBlock(ref sbyte block);
        static abstract A Madd(A acc, W w, X x);
        /// <summary>Write the 8 row sums at dst (minus the path's correction: AVX-VNNI's 128·Σw).</summary>
        static abstract void Store(A acc, ref int dst, ref int correction);
    }

    /// <summary>
    /// The loops: tiles of 2 row blocks × 4 vectors (8 accumulator chains, each weight block loaded once for 4 vectors),
    /// then 1 row block × 4 vectors for an odd last block, then the last 1-3 vectors one at a time over pairs of blocks.
    /// </summary>
    private sealed class Driver<D, A, X, W>(KernelPath path) : Int8BatchKernels(path)
        where D : struct, IBlockDot<A, X, W> where A : struct where X : struct where W : struct
    {
        private protected override void Product(PackedInt8Matrix w, ReadOnlySpan<int> quads, int q4, ReadOnlySpan<int[]> acc)
        {
            int k4 = w.K4, nb = w.RowBlocks, n = acc.Length, b = 0;
            nint blk = k4 * 32;
            ref sbyte wr = ref w.DataRef;
            ref int corr = ref MemoryMarshal.GetArrayDataReference(w.RowCorrection);
            ref int q = ref MemoryMarshal.GetReference(quads);
            for (; b + 4 <= n; b += 4)
            {
                ref int q0 = ref Unsafe.Add(ref q, b * q4);
                ref int q1 = ref Unsafe.Add(ref q0, q4);
                ref int q2 = ref Unsafe.Add(ref q1, q4);
                ref int q3 = ref Unsafe.Add(ref q2, q4);
                ref int d0 = ref MemoryMarshal.GetArrayDataReference(acc[b]);
                ref int d1 = ref MemoryMarshal.GetArrayDataReference(acc[b + 1]);
                ref int d2 = ref MemoryMarshal.GetArrayDataReference(acc[b + 2]);
                ref int d3 = ref MemoryMarshal.GetArrayDataReference(acc[b + 3]);
                int rb = 0;
                for (; rb + 2 <= nb; rb += 2)
                {
                    ref sbyte p = ref Unsafe.Add(ref wr, rb * blk);
                    A a0 = D.Zero, a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
                    for (int kb = 0; kb < k4; kb++, p = ref Unsafe.Add(ref p, 32))
                    {
                        W w0 = D.LoadBlock(ref p), w1 = D.LoadBlock(ref Unsafe.Add(ref p, blk));
                        X x = D.Broadcast(Unsafe.Add(ref q0, kb));
                        a0 = D.Madd(a0, w0, x); c0 = D.Madd(c0, w1, x);
                        x = D.Broadcast(Unsafe.Add(ref q1, kb));
                        a1 = D.Madd(a1, w0, x); c1 = D.Madd(c1, w1, x);
                        x = D.Broadcast(Unsafe.Add(ref q2, kb));
                        a2 = D.Madd(a2, w0, x); c2 = D.Madd(c2, w1, x);
                        x = D.Broadcast(Unsafe.Add(ref q3, kb));
                        a3 = D.Madd(a3, w0, x); c3 = D.Madd(c3, w1, x);
                    }
                    int r = rb * 8;
                    ref int cr = ref Unsafe.Add(ref corr, r);
                    D.Store(a0, ref Unsafe.Add(ref d0, r), ref cr); D.Store(c0, ref Unsafe.Add(ref d0, r + 8), ref Unsafe.Add(ref cr, 8));
                    D.Store(a1, ref Unsafe.Add(ref d1, r), ref cr); D.Store(c1, ref Unsafe.Add(ref d1, r + 8), ref Unsafe.Add(ref cr, 8));
                    D.Store(a2, ref Unsafe.Add(ref d2, r), ref cr); D.Store(c2, ref Unsafe.Add(ref d2, r + 8), ref Unsafe.Add(ref cr, 8));
                    D.Store(a3, ref Unsafe.Add(ref d3, r), ref cr); D.Store(c3, ref Unsafe.Add(ref d3, r + 8), ref Unsafe.Add(ref cr, 8));
                }
                if (rb < nb)
                {
                    ref sbyte p = ref Unsafe.Add(ref wr, rb * blk);
                    A a0 = D.Zero, a1 = a0, a2 = a0, a3 = a0;
                    for (int kb = 0; kb < k4; kb++, p = ref Unsafe.Add(ref p, 32))
                    {
                        W w0 = D.LoadBlock(ref p);
                        a0 = D.Madd(a0, w0, D.Broadcast(Unsafe.Add(ref q0, kb)));
                        a1 = D.Madd(a1, w0, D.Broadcast(Unsafe.Add(ref q1, kb)));
                        a2 = D.Madd(a2, w0, D.Broadcast(Unsafe.Add(ref q2, kb)));
                        a3 = D.Madd(a3, w0, D.Broadcast(Unsafe.Add(ref q3, kb)));
                    }
                    int r = rb * 8;
                    ref int cr = ref Unsafe.Add(ref corr, r);
                    D.Store(a0, ref Unsafe.Add(ref d0, r), ref cr);
                    D.Store(a1, ref Unsafe.Add(ref d1, r), ref cr);
                    D.Store(a2, ref Unsafe.Add(ref d2, r), ref cr);
                    D.Store(a3, ref Unsafe.Add(ref d3, r), ref cr);
                }
            }
            for (; b < n; b++)
            {
                ref int q0 = ref Unsafe.Add(ref q, b * q4);
                ref int d0 = ref MemoryMarshal.GetArrayDataReference(acc[b]);
                for (int rb = 0; rb < nb; rb += 2)
                {
                    bool two = rb + 1 < nb;
                    ref sbyte p = ref Unsafe.Add(ref wr, rb * blk);
                    A a0 = D.Zero, c0 = a0;
                    for (int kb = 0; kb < k4; kb++, p = ref Unsafe.Add(ref p, 32))
                    {
                        X x = D.Broadcast(Unsafe.Add(ref q0, kb));
                        a0 = D.Madd(a0, D.LoadBlock(ref p), x);
                        if (two) c0 = D.Madd(c0, D.LoadBlock(ref Unsafe.Add(ref p, blk)), x);
                    }
                    int r = rb * 8;
                    D.Store(a0, ref Unsafe.Add(ref d0, r), ref Unsafe.Add(ref corr, r));
                    if (two) D.Store(c0, ref Unsafe.Add(ref d0, r + 8), ref Unsafe.Add(ref corr, r + 8));
                }
            }
        }
    }

    /// <summary>AVX-VNNI vpdpbusd: the quads hold x + 128 (unsigned) against signed weights; 128·Σw comes off at the store.</summary>
    private readonly struct VnniDot : IBlockDot<Vector256<int>, Vector256<byte>, Vector256<sbyte>>
    {
        public static Vector256<int> Zero => Vector256<int>.Zero;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<byte> Broadcast(int quad) => Vector256.Create(quad).AsByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<sbyte> LoadBlock(ref sbyte block) => Vector256.LoadUnsafe(ref block);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Madd(Vector256<int> acc, Vector256<sbyte> w, Vector256<byte> x) => X86.AvxVnni.MultiplyWideningAndAdd(acc, x, w);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(Vector256<int> acc, ref int dst, ref int correction) => (acc - Vector256.LoadUnsafe(ref correction)).StoreUnsafe(ref dst);
    }

    /// <summary>A signed quad broadcast with its absolute value (vpmaddubsw's unsigned operand), computed once per quad.</summary>
    private readonly struct SignedX256(Vector256<sbyte> x)
    {
        public readonly Vector256<sbyte> X = x;
        public readonly Vector256<byte> Abs = X86.Avx2.Abs(x);
    }

    /// <summary>AVX2: |x| × sign(w, x) by vpmaddubsw (pairs ≤ 2·127·127, no saturation), vpmaddwd by ones to int32.</summary>
    private readonly struct Avx2Dot : IBlockDot<Vector256<int>, SignedX256, Vector256<sbyte>>
    {
        public static Vector256<int> Zero => Vector256<int>.Zero;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static SignedX256 Broadcast(int quad) => new(Vector256.Create(quad).AsSByte());
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<sbyte> LoadBlock(ref sbyte block) => Vector256.LoadUnsafe(ref block);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Madd(Vector256<int> acc, Vector256<sbyte> w, SignedX256 x) => Avx2Int8Kernels.Step(acc, x.Abs, x.X, w);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<int> acc, ref int dst, ref int correction) => acc.StoreUnsafe(ref dst);
    }

    /// <summary>8 row sums as two 128-bit halves (rows 0-3, rows 4-7).</summary>
    private struct Acc2
    {
        public Vector128<int> Lo, Hi;
    }

    /// <summary>A 32-byte weight block as two 128-bit halves (rows 0-3, rows 4-7).</summary>
    private struct Block128
    {
        public Vector128<sbyte> Lo, Hi;
    }

    /// <summary>NEON's 8 row sums before the final pairwise add: [r0 k01, r0 k23, r1 k01, r1 k23] and so on.</summary>
    private struct Acc4
    {
        public Vector128<int> A01, A23, A45, A67;
    }

    private readonly struct SignedX128(Vector128<sbyte> x)
    {
        public readonly Vector128<sbyte> X = x;
        public readonly Vector128<byte> Abs = X86.Ssse3.Abs(x);
    }

    /// <summary>SSSE3: the AVX2 scheme on the block's two 16-byte halves.</summary>
    private readonly struct Ssse3Dot : IBlockDot<Acc2, SignedX128, Block128>
    {
        public static Acc2 Zero => default;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static SignedX128 Broadcast(int quad) => new(Vector128.Create(quad).AsSByte());
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Block128 LoadBlock(ref sbyte block) => new() { Lo = Vector128.LoadUnsafe(ref block), Hi = Vector128.LoadUnsafe(ref block, 16) };
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Acc2 Madd(Acc2 acc, Block128 w, SignedX128 x) => new()
        {
            Lo = X86.Sse2.Add(acc.Lo, X86.Sse2.MultiplyAddAdjacent(X86.Ssse3.MultiplyAddAdjacent(x.Abs, X86.Ssse3.Sign(w.Lo, x.X)), Vector128.Create((short)1))),
            Hi = X86.Sse2.Add(acc.Hi, X86.Sse2.MultiplyAddAdjacent(X86.Ssse3.MultiplyAddAdjacent(x.Abs, X86.Ssse3.Sign(w.Hi, x.X)), Vector128.Create((short)1))),
        };
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(Acc2 acc, ref int dst, ref int correction) { acc.Lo.StoreUnsafe(ref dst); acc.Hi.StoreUnsafe(ref dst, 4); }
    }

    /// <summary>ARM64 SDOT: four signed int8 products into each int32 lane.</summary>
    private readonly struct SdotDot : IBlockDot<Acc2, Vector128<sbyte>, Block128>
    {
        public static Acc2 Zero => default;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<sbyte> Broadcast(int quad) => Vector128.Create(quad).AsSByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Block128 LoadBlock(ref sbyte block) => new() { Lo = Vector128.LoadUnsafe(ref block), Hi = Vector128.LoadUnsafe(ref block, 16) };
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Acc2 Madd(Acc2 acc, Block128 w, Vector128<sbyte> x) => new()
        {
            Lo = Arm.Dp.DotProduct(acc.Lo, w.Lo, x),
            Hi = Arm.Dp.DotProduct(acc.Hi, w.Hi, x),
        };
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(Acc2 acc, ref int dst, ref int correction) { acc.Lo.StoreUnsafe(ref dst); acc.Hi.StoreUnsafe(ref dst, 4); }
    }

    /// <summary>ARM64 NEON without SDOT: SMULL/SMULL2 int16 products (≤ 127·127), SADALP pairs into int32, ADDP at the store.</summary>
    private readonly struct NeonDot : IBlockDot<Acc4, Vector128<sbyte>, Block128>
    {
        public static Acc4 Zero => default;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<sbyte> Broadcast(int quad) => Vector128.Create(quad).AsSByte();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Block128 LoadBlock(ref sbyte block) => new() { Lo = Vector128.LoadUnsafe(ref block), Hi = Vector128.LoadUnsafe(ref block, 16) };
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Acc4 Madd(Acc4 acc, Block128 w, Vector128<sbyte> x)
        {
            Vector128<sbyte> lo = w.Lo, hi = w.Hi;
            var xl = x.GetLower();
            return new()
            {
                A01 = Arm.AdvSimd.AddPairwiseWideningAndAdd(acc.A01, Arm.AdvSimd.MultiplyWideningLower(lo.GetLower(), xl)),
                A23 = Arm.AdvSimd.AddPairwiseWideningAndAdd(acc.A23, Arm.AdvSimd.MultiplyWideningUpper(lo, x)),
                A45 = Arm.AdvSimd.AddPairwiseWideningAndAdd(acc.A45, Arm.AdvSimd.MultiplyWideningLower(hi.GetLower(), xl)),
                A67 = Arm.AdvSimd.AddPairwiseWideningAndAdd(acc.A67, Arm.AdvSimd.MultiplyWideningUpper(hi, x)),
            };
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(Acc4 acc, ref int dst, ref int correction)
        {
            Arm.AdvSimd.Arm64.AddPairwise(acc.A01, acc.A23).StoreUnsafe(ref dst);
            Arm.AdvSimd.Arm64.AddPairwise(acc.A45, acc.A67).StoreUnsafe(ref dst, 4);
        }
    }
}
