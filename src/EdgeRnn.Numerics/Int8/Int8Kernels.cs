using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Arm = System.Runtime.Intrinsics.Arm;
using X86 = System.Runtime.Intrinsics.X86;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// One row of the int8 kernel table: an instruction-set path, whether this CPU runs it, and its kernels. The rows of
/// <see cref="Table"/>, in preference order, are the only place a path is named, tested for support or chosen.
/// </summary>
public sealed class KernelPath
{
    private readonly Int8Kernels _kernels;
    private KernelPath(string name, bool isSupported, Int8Kernels kernels) { Name = name; IsSupported = isSupported; _kernels = kernels; }

    /// <summary>The path's name (EDGERNN_KERNEL, self-test, bench and version print it).</summary>
    public string Name { get; }
    public bool IsSupported { get; }
    /// <summary>The path's kernels; <see cref="PlatformNotSupportedException"/> if this CPU lacks the path.</summary>
    public Int8Kernels Kernels => IsSupported ? _kernels : throw new PlatformNotSupportedException($"kernel path {Name} is not supported by this CPU");
    public override string ToString() => Name;

    // Intrinsic classes by their full names: inside this class "Avx2" is the row.
    public static readonly KernelPath AvxVnni = new("AvxVnni", X86.Avx2.IsSupported && X86.AvxVnni.IsSupported, AvxVnniInt8Kernels.Instance);
    public static readonly KernelPath Avx2 = new("Avx2", X86.Avx2.IsSupported, Avx2Int8Kernels.Instance);
    public static readonly KernelPath Avx512BW = new("Avx512BW", X86.Avx512BW.IsSupported, Avx512Int8Kernels.Instance);
    public static readonly KernelPath Ssse3 = new("Ssse3", X86.Ssse3.IsSupported, Ssse3Int8Kernels.Instance);
    public static readonly KernelPath Dp = new("Dp", Arm.AdvSimd.IsSupported && Arm.Dp.IsSupported, DotProdInt8Kernels.Instance);
    public static readonly KernelPath AdvSimd = new("AdvSimd", Arm.AdvSimd.IsSupported, NeonInt8Kernels.Instance);
    public static readonly KernelPath Scalar = new("Scalar", true, ScalarInt8Kernels.Instance);

    /// <summary>
    /// Every path, fastest first; the first supported one is <see cref="Int8Kernels.Active"/>. Order measured on Zen 4
    /// (packed 256×64 product, the LSTM-64 recurrent one): AVX-VNNI 105 ns, AVX2 188, AVX-512BW 303 (its sign emulation
    /// and two-quad broadcasts cost more than 512 bits save), SSSE3 377, scalar 16,360. On ARM: SDOT before plain NEON.
    /// </summary>
    public static IReadOnlyList<KernelPath> Table { get; } = [AvxVnni, Avx2, Avx512BW, Ssse3, Dp, AdvSimd, Scalar];

    /// <summary>The row named <paramref name="name"/> (any case), or null.</summary>
    public static KernelPath? Find(string name)
    {
        foreach (var p in Table) if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)) return p;
        return null;
    }
}

/// <summary>
/// Integer products of an int8 matrix (<see cref="PackedInt8Matrix"/>) and an int8 vector with int32 accumulation: the
/// whole integer arithmetic of the quantized forecaster. Every path implements only its packed product and returns
/// exactly the integers of the scalar reference (<see cref="ScalarInt8Kernels.MatVec"/>, plain row-major loops).
/// Precondition on every operand element: -127 &lt;= v &lt;= 127 (symmetric quantization never makes -128). It is what
/// lets the SSSE3, AVX2 and AVX-512BW paths use pmaddubsw without saturation: |x| * sign(w, x) pairs sum to at most
/// 2*127*127 = 32258 &lt; 32767, and the NEON path's int16 products (SMULL) stay within ±16129. AVX-VNNI (x + 128 as
/// unsigned) and SDOT accumulate straight into int32.
/// The path is chosen once, at type initialization (<see cref="Active"/>), from <see cref="KernelPath.Table"/>; tests and
/// self-test take any supported row's <see cref="KernelPath.Kernels"/>.
/// </summary>
public abstract class Int8Kernels
{
    /// <summary>Human-readable: path and the instructions it uses.</summary>
    public abstract string PathName { get; }

    /// <summary>
    /// acc[r] = Σ_{k &lt; w.Cols} w[r, k]·x[k] for r &lt; w.Rows, on the row-interleaved layout (no per-row reduction).
    /// </summary>
    /// <param name="x">[w.Cols]</param>
    /// <param name="acc">[w.Rows] overwritten</param>
    public void MatVecPacked(PackedInt8Matrix w, ReadOnlySpan<sbyte> x, Span<int> acc)
    {
        CheckPacked(w, x.Length, acc);
        if (w.Rows == 0) return;
        Span<int> quads = stackalloc int[QuadCount(x.Length)];
        PadQuads(x, quads, QuadFlip);
        PackedProduct(w, ref MemoryMarshal.GetReference(quads), acc);
    }

    /// <summary>The same product for an x already in quads (<see cref="PrepareQuads"/>), when one x feeds several matrices.</summary>
    /// <param name="quads">[<see cref="QuadCount"/>(w.Cols)]</param>
    /// <param name="acc">[w.Rows] overwritten</param>
    public void MatVecPacked(PackedInt8Matrix w, ReadOnlySpan<int> quads, Span<int> acc)
    {
        CheckPacked(w, w.Cols, acc);
        if (quads.Length != QuadCount(w.Cols)) throw new ArgumentException($"quads has {quads.Length} values, the matrix needs {QuadCount(w.Cols)}", nameof(quads));
        if (w.Rows > 0) PackedProduct(w, ref MemoryMarshal.GetReference(quads), acc);
    }

    /// <summary>Length of the quads <see cref="PrepareQuads"/> writes for n values: ⌈n / 4⌉, at least 1.</summary>
    public static int QuadCount(int n) => Math.Max((n + 3) >> 2, 1);

    /// <summary>
    /// x padded to whole quads in the form this path multiplies: each quad is one int32 to broadcast, and AVX-VNNI stores
    /// x + 128 per byte.
    /// </summary>
    /// <param name="quads">[<see cref="QuadCount"/>(x.Length)]</param>
    public void PrepareQuads(ReadOnlySpan<sbyte> x, Span<int> quads)
    {
        if (quads.Length != QuadCount(x.Length)) throw new ArgumentException($"quads has {quads.Length} values, x of {x.Length} needs {QuadCount(x.Length)}", nameof(quads));
        PadQuads(x, quads, QuadFlip);
    }

    /// <summary>XOR applied to every byte of x by <see cref="PrepareQuads"/> (0: x as it is).</summary>
    protected virtual int QuadFlip => 0;

    /// <summary>The path's packed product: acc[r] for every row, q the prepared quads. The callers check the arguments.</summary>
    protected abstract void PackedProduct(PackedInt8Matrix w, ref int q, Span<int> acc);

    public override string ToString() => PathName;

    // ---- dispatch: decided once ----

    /// <summary>The first supported row of <see cref="KernelPath.Table"/>, selected once per process. EDGERNN_KERNEL=avx2
    /// (etc.) pins a supported path for benchmarks and for comparing ISAs on one machine.</summary>
    public static readonly KernelPath ActivePath = SelectActive();

    public static Int8Kernels Active => ActivePath.Kernels;

    /// <summary>Paths this CPU can run, in preference order (scalar last).</summary>
    public static IReadOnlyList<KernelPath> SupportedPaths { get; } = KernelPath.Table.Where(p => p.IsSupported).ToArray();

    private static KernelPath SelectActive()
    {
        if (Environment.GetEnvironmentVariable("EDGERNN_KERNEL") is { Length: > 0 } forced && KernelPath.Find(forced) is { IsSupported: true } pinned) return pinned;
        foreach (var p in KernelPath.Table) if (p.IsSupported) return p;
        throw new InvalidOperationException("the kernel table has no supported row (scalar is always supported)");
    }

    // ---- shared helpers for the SIMD paths ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static void CheckPacked(PackedInt8Matrix w, int xLength, Span<int> acc)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (xLength != w.Cols) throw new ArgumentException($"x has {xLength} values, the matrix has {w.Cols} columns", "x");
        if (acc.Length != w.Rows) throw new ArgumentException($"acc has {acc.Length} values, the matrix has {w.Rows} rows", nameof(acc));
    }

    /// <summary>Largest column count whose padded x copy goes on the stack (bigger ones are rejected rather than allocated).</summary>
    protected const int MaxPackedCols = 16384;

    /// <summary>
    /// x padded to whole quads, each quad read as one int32 for a broadcast, every byte XORed with <paramref name="flip"/>
    /// (0x80808080 turns int8 x into the unsigned x + 128 that vpdpbusd takes; padding bytes then hold 0x80, which
    /// meets zero weights). 16 bytes at a time, then bytewise: no memmove call and no zeroing of the quads first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static void PadQuads(ReadOnlySpan<sbyte> x, Span<int> quads, int flip = 0)
    {
        if (x.Length > MaxPackedCols) throw new ArgumentException($"x has {x.Length} values, at most {MaxPackedCols} are supported", nameof(x));
        quads[^1] = flip;
        int n = x.Length, k = 0;
        ref byte src = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(x));
        ref byte dst = ref Unsafe.As<int, byte>(ref MemoryMarshal.GetReference(quads));
        var f = Vector128.Create(flip).AsByte();
        for (; k + 16 <= n; k += 16) (Vector128.LoadUnsafe(ref src, (nuint)k) ^ f).StoreUnsafe(ref dst, (nuint)k);
        for (; k < n; k++) Unsafe.Add(ref dst, k) = (byte)(Unsafe.Add(ref src, k) ^ (byte)flip);
    }

    /// <summary>Store one block of 8 row sums at acc[i], the last (partial) block through a copy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static void Store8(Vector256<int> v, Span<int> acc, int row)
    {
        if (row + 8 <= acc.Length) v.StoreUnsafe(ref MemoryMarshal.GetReference(acc), (nuint)row);
        else for (int i = 0; row + i < acc.Length; i++) acc[row + i] = v.GetElement(i);
    }

    /// <summary>One block of 8 row sums as two 128-bit halves (NEON, SDOT, SSSE3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static void Store8(Vector128<int> lo, Vector128<int> hi, Span<int> acc, int row)
    {
        if (row + 8 <= acc.Length)
        {
            lo.StoreUnsafe(ref MemoryMarshal.GetReference(acc), (nuint)row);
            hi.StoreUnsafe(ref MemoryMarshal.GetReference(acc), (nuint)(row + 4));
        }
        else for (int i = 0; row + i < acc.Length; i++) acc[row + i] = i < 4 ? lo.GetElement(i) : hi.GetElement(i - 4);
    }

}
