using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace EdgeRnn.Numerics;

/// <summary>
/// Gate activations for the quantized forecaster: a rational approximation of tanh, x·P(x²)/Q(x²) with P of degree 2 and
/// Q of degree 2 in x² (odd degree 5 over even degree 4) on x clamped to ±5.05, and sigmoid(x) = 0.5 + 0.5·tanh(x/2).
/// The coefficients are a minimax (Lawson) fit of the absolute error on [0, 5.05], rounded to float32
/// (tests/python/fit_tanh.py). 13 operations per lane, against 23 for Eigen's degree 13/6 form that this replaced: the
/// int8 step spends more time here than in its matrix products, and an error of 5e-5 is far below the int8 state's own
/// quantization step (1/127 ≈ 7.9e-3).
/// Only +, ×, ÷, min and max: IEEE-exact operations, so the 256-bit, 128-bit (SSE or NEON) and scalar code give the same
/// bits for the same input on x64 and ARM64, which keeps int8 forecasts identical across ISAs.
/// Measured maximum absolute error against double precision over [-20, 20] step 1e-4 (no FMA):
/// tanh 4.6e-5, sigmoid 2.3e-5; the tests assert the bounds <see cref="MaxTanhError"/> and <see cref="MaxSigmoidError"/>.
/// </summary>
public static class Activations
{
    /// <summary>Bound the tests assert for |Tanh(x) - tanh(x)| (measured 4.6e-5).</summary>
    public const float MaxTanhError = 5e-5f;
    /// <summary>Bound the tests assert for |Sigmoid(x) - σ(x)| (measured 2.3e-5).</summary>
    public const float MaxSigmoidError = 2.5e-5f;

    private const float Clamp = 5.05f;
    private const float P0 = 0.99979967f, P1 = 0.10155497f, P2 = 0.0006500754f;
    private const float Q1 = 0.43430945f, Q2 = 0.0125894435f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Tanh(float x)
    {
        x = MathF.Max(-Clamp, MathF.Min(Clamp, x));
        float x2 = x * x;
        float p = x2 * P2 + P1;
        p = p * x2 + P0;
        p *= x;
        float q = x2 * Q2 + Q1;
        q = q * x2 + 1f;
        return p / q;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float x) => 0.5f * Tanh(0.5f * x) + 0.5f;

    /// <summary>The same rational on eight lanes: the same operations in the same order as <see cref="Tanh(float)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V Tanh<V>(V x) where V : struct, ILanes8<V>
    {
        x = V.Max(V.Splat(-Clamp), V.Min(V.Splat(Clamp), x));
        var x2 = x * x;
        var p = x2 * V.Splat(P2) + V.Splat(P1);
        p = p * x2 + V.Splat(P0);
        p *= x;
        var q = x2 * V.Splat(Q2) + V.Splat(Q1);
        q = q * x2 + V.Splat(1f);
        return p / q;
    }

    /// <summary>
    /// Four independent <see cref="Tanh{V}(V)"/>s advanced step by step together: the same operations per lane (so the
    /// same bits), but four dependency chains side by side in program order, which the out-of-order core overlaps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tanh4<V>(ref V a, ref V b, ref V c, ref V d) where V : struct, ILanes8<V>
    {
        V lo = V.Splat(-Clamp), hi = V.Splat(Clamp);
        a = V.Max(lo, V.Min(hi, a)); b = V.Max(lo, V.Min(hi, b)); c = V.Max(lo, V.Min(hi, c)); d = V.Max(lo, V.Min(hi, d));
        V a2 = a * a, b2 = b * b, c2 = c * c, d2 = d * d;
        V k2 = V.Splat(P2), k1 = V.Splat(P1), k0 = V.Splat(P0);
        V pa = a2 * k2 + k1, pb = b2 * k2 + k1, pc = c2 * k2 + k1, pd = d2 * k2 + k1;
        pa = pa * a2 + k0; pb = pb * b2 + k0; pc = pc * c2 + k0; pd = pd * d2 + k0;
        pa *= a; pb *= b; pc *= c; pd *= d;
        k2 = V.Splat(Q2); k1 = V.Splat(Q1); k0 = V.Splat(1f);
        V qa = a2 * k2 + k1, qb = b2 * k2 + k1, qc = c2 * k2 + k1, qd = d2 * k2 + k1;
        qa = qa * a2 + k0; qb = qb * b2 + k0; qc = qc * c2 + k0; qd = qd * d2 + k0;
        a = pa / qa; b = pb / qb; c = pc / qc; d = pd / qd;
    }

    /// <summary>y = tanh(x), eight lanes at a time (<see cref="Width256"/> where 256-bit vectors are fast, else
    /// <see cref="Lanes128x2"/>), then the scalar form. x: [n], y: [n] (may alias x).</summary>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => Apply<TanhOp>(x, y);

    /// <summary>y = tanh(x) on a forced lane width (tests run both against the scalar form). x: [n], y: [n].</summary>
    public static void Tanh<V>(ReadOnlySpan<float> x, Span<float> y) where V : struct, ILanes8<V> => Apply<V, TanhOp>(x, y);

    /// <summary>y = sigmoid(x) = 0.5·tanh(0.5·x) + 0.5. x: [n], y: [n] (may alias x).</summary>
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y) => Apply<SigmoidOp>(x, y);

    /// <summary>y = sigmoid(x) on a forced lane width. x: [n], y: [n].</summary>
    public static void Sigmoid<V>(ReadOnlySpan<float> x, Span<float> y) where V : struct, ILanes8<V> => Apply<V, SigmoidOp>(x, y);

    // One activation as a struct, so the span loop below is written once and specialised per activation and width.
    private interface IActivation
    {
        static abstract float Invoke(float x);
        static abstract V Invoke<V>(V x) where V : struct, ILanes8<V>;
    }

    private readonly struct TanhOp : IActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Invoke(float x) => Tanh(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Invoke<V>(V x) where V : struct, ILanes8<V> => Tanh(x);
    }

    private readonly struct SigmoidOp : IActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Invoke(float x) => Sigmoid(x);

        // The same operations in the same order as Sigmoid(float).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static V Invoke<V>(V x) where V : struct, ILanes8<V>
        {
            var h = V.Splat(0.5f);
            return h * Tanh(h * x) + h;
        }
    }

    private static void Apply<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IActivation
    {
        if (Vector256.IsHardwareAccelerated) Apply<Width256, TOp>(x, y);
        else Apply<Lanes128x2, TOp>(x, y);
    }

    private static void Apply<V, TOp>(ReadOnlySpan<float> x, Span<float> y) where V : struct, ILanes8<V> where TOp : struct, IActivation
    {
        if (y.Length < x.Length) throw new ArgumentException("destination too short", nameof(y));
        int n = x.Length, k = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        for (; k + 8 <= n; k += 8) V.Store(TOp.Invoke(V.Load(ref xr, k)), ref yr, k);
        for (; k < n; k++) Unsafe.Add(ref yr, k) = TOp.Invoke(Unsafe.Add(ref xr, k));
    }
}
