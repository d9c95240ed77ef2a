using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace EdgeRnn.Numerics;

/// <summary>
/// Float32-accurate sigmoid and tanh for the float forecaster and its training, written once over a register width
/// (<see cref="Width256"/>, <see cref="Width128"/>) so the streaming step can apply them in its fused per-block epilogue
/// instead of calling a span function per gate. (The int8 path's <see cref="Activations"/> trades accuracy, 5e-5, for
/// speed; the float path must match PyTorch to about 1e-6, so it keeps an exp-based form.)
///   expm1(x): x = n·ln2 + r with |r| ≤ ln2/2 (n by the 1.5·2^23 rounding trick, ln2 split in two so n·C1 is exact),
///             expm1(r) = r + r²·P(r) with Cephes expf's degree-5 P, then expm1(x) = 2^n·expm1(r) + (2^n − 1), exact in
///             the last step for n = 0, so small arguments keep their relative accuracy.
///   sigmoid(x) = 1 / (2 + expm1(−x)),  tanh(x) = e / (e + 2) with e = expm1(2x).
/// Arguments are clamped to [−86.5, 88] before expm1 so 2^n stays a normal float (tanh and sigmoid are flat there).
/// Measured against double precision over [−20, 20] step 1e-4: see <see cref="MaxTanhError"/>, <see cref="MaxSigmoidError"/>.
/// </summary>
public static class FloatMath
{
    /// <summary>Bound the tests assert for |Tanh(x) − tanh(x)| / max(|tanh(x)|, 2^-10) (a few float ulps).</summary>
    public const double MaxTanhError = 4e-7;
    /// <summary>Bound the tests assert for |Sigmoid(x) − σ(x)| / σ(x) where σ(x) ≥ 1e-30 (a few float ulps).</summary>
    public const double MaxSigmoidError = 4e-7;

    private const float Lo = -86.5f, Hi = 88f;
    private const float Log2E = 1.44269504088896341f, Round = 12582912f; // 1.5·2^23: v + Round − Round rounds v to an integer
    private const float C1 = 0.693359375f, C2 = -2.12194440e-4f;        // ln2 = C1 + C2, C1 with 9 significant bits
    private const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
        P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    /// <summary>e^x − 1 for x already clamped to [−86.5, 88].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static W ExpM1<W>(W x) where W : struct, IFloatWidth<W>
    {
        W n = x * W.Splat(Log2E) + W.Splat(Round) - W.Splat(Round);
        W r = W.MultiplyAddEstimate(n, W.Splat(-C1), x);
        r = W.MultiplyAddEstimate(n, W.Splat(-C2), r);
        W p = W.MultiplyAddEstimate(W.Splat(P0), r, W.Splat(P1));
        p = W.MultiplyAddEstimate(p, r, W.Splat(P2));
        p = W.MultiplyAddEstimate(p, r, W.Splat(P3));
        p = W.MultiplyAddEstimate(p, r, W.Splat(P4));
        p = W.MultiplyAddEstimate(p, r, W.Splat(P5));
        W em1 = W.MultiplyAddEstimate(r * r, p, r);
        W s = Pow2(n);
        return W.MultiplyAddEstimate(em1, s, s - W.Splat(1f));
    }

    // 2^n for integral n in [-125, 127]: the exponent field built directly (the one operation the width structs lack).
    // The native conversion: n is always in range, and the saturating one costs a compare and a blend per call.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static W Pow2<W>(W n) where W : struct, IFloatWidth<W>
    {
        if (typeof(W) == typeof(Width256))
        {
            var v = Unsafe.BitCast<W, Vector256<float>>(n);
            return Unsafe.BitCast<Vector256<float>, W>(((Vector256.ConvertToInt32Native(v) + Vector256.Create(127)) << 23).AsSingle());
        }
        if (typeof(W) == typeof(Width128))
        {
            var v = Unsafe.BitCast<W, Vector128<float>>(n);
            return Unsafe.BitCast<Vector128<float>, W>(((Vector128.ConvertToInt32Native(v) + Vector128.Create(127)) << 23).AsSingle());
        }
        throw new NotSupportedException(typeof(W).Name);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static W Clamp<W>(W x) where W : struct, IFloatWidth<W> => W.Max(W.Splat(Lo), W.Min(W.Splat(Hi), x));

    /// <summary>σ(x) = 1 / (1 + e^−x), lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static W Sigmoid<W>(W x) where W : struct, IFloatWidth<W>
        => W.Splat(1f) / (W.Splat(2f) + ExpM1(Clamp(W.Splat(0f) - x)));

    /// <summary>tanh(x), lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static W Tanh<W>(W x) where W : struct, IFloatWidth<W>
    {
        W e = ExpM1(Clamp(x + x));
        return e / (e + W.Splat(2f));
    }

    /// <summary>The scalar form: the same formulas (used for span tails).</summary>
    public static float Sigmoid(float x) => 1f / (2f + ExpM1(Math.Clamp(-x, Lo, Hi)));

    public static float Tanh(float x)
    {
        float e = ExpM1(Math.Clamp(x + x, Lo, Hi));
        return e / (e + 2f);
    }

    private static float ExpM1(float x)
    {
        float n = x * Log2E + Round - Round;
        float r = x - n * C1; // exact: n·C1 has at most 17 significant bits
        r -= n * C2;
        float p = ((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + P5;
        float em1 = r * r * p + r;
        float s = BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
        return em1 * s + (s - 1f);
    }

    /// <summary>y = σ(x) over spans (y may alias x). x: [n], y: [n]</summary>
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y) => Apply<SigmoidOp>(x, y);

    /// <summary>y = tanh(x) over spans (y may alias x). x: [n], y: [n]</summary>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => Apply<TanhOp>(x, y);

    private interface IOp
    {
        static abstract float Invoke(float x);
        static abstract W Invoke<W>(W x) where W : struct, IFloatWidth<W>;
    }

    private readonly struct SigmoidOp : IOp
    {
        public static float Invoke(float x) => Sigmoid(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Invoke<W>(W x) where W : struct, IFloatWidth<W> => Sigmoid(x);
    }

    private readonly struct TanhOp : IOp
    {
        public static float Invoke(float x) => Tanh(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Invoke<W>(W x) where W : struct, IFloatWidth<W> => Tanh(x);
    }

    private static void Apply<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IOp
    {
        if (y.Length < x.Length) throw new ArgumentException("destination too short", nameof(y));
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (FloatKernels.Use256) i = Apply<TOp, Width256>(ref xr, ref yr, i, n);
        if (FloatKernels.Use128) i = Apply<TOp, Width128>(ref xr, ref yr, i, n);
        for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Invoke(Unsafe.Add(ref xr, i));
    }

    // Whole vectors from i on; returns where they stop.
    private static int Apply<TOp, W>(ref float xr, ref float yr, int i, int n) where TOp : struct, IOp where W : struct, IFloatWidth<W>
    {
        for (; i + W.Count <= n; i += W.Count) W.Store(TOp.Invoke(W.Load(ref xr, i)), ref yr, i);
        return i;
    }
}
