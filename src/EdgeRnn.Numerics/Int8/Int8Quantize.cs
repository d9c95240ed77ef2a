using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// float ↔ int8 conversions of the quantized forecaster. Rounding is to nearest, ties to even, on every path
/// (MathF.Round, roundps, frintn), so a step gives identical bits on AVX-512, AVX2, NEON and the scalar tail.
/// </summary>
public static class Int8Quantize
{
    /// <summary>Largest |v| (0 for an empty span). v: [n].</summary>
    /// <remarks>Max is exact, so the vector lanes and the scalar tail give the same value in any order (the only
    /// order-dependent case, the sign of a zero maximum, means "all zero" either way). NaN anywhere gives NaN.</remarks>
    public static float MaxAbs(ReadOnlySpan<float> v)
    {
        int n = v.Length, k = 0;
        ref float vr = ref MemoryMarshal.GetReference(v);
        float m = 0;
        if (Vector128.IsHardwareAccelerated && n >= 8)
        {
            Vector128<float> a = Vector128<float>.Zero, b = Vector128<float>.Zero;
            bool nan = false;
            for (; k + 8 <= n; k += 8)
            {
                var x = Vector128.LoadUnsafe(ref vr, (nuint)k);
                var y = Vector128.LoadUnsafe(ref vr, (nuint)(k + 4));
                nan |= !Vector128.EqualsAll(x, x) | !Vector128.EqualsAll(y, y);
                a = Vector128.MaxNative(a, Vector128.Abs(x));
                b = Vector128.MaxNative(b, Vector128.Abs(y));
            }
            if (nan) return float.NaN;
            a = Vector128.MaxNative(a, b);
            m = MathF.Max(MathF.Max(a.GetElement(0), a.GetElement(1)), MathF.Max(a.GetElement(2), a.GetElement(3)));
        }
        for (; k < n; k++) m = MathF.Max(m, MathF.Abs(Unsafe.Add(ref vr, k)));
        return m;
    }

    /// <summary>q[k] = clamp(round(v[k]·inv), -127, 127). v: [n], q: [≥n].</summary>
    public static void Quantize(ReadOnlySpan<float> v, float inv, Span<sbyte> q) => Quantize<Uncentred>(v, 0f, inv, q);

    /// <summary>Smallest and largest v[k] (0, 0 for an empty span); NaN anywhere gives NaN for both. v: [n].</summary>
    /// <remarks>Min and max are exact, so lanes and tail agree in any order (a zero's sign aside, which no caller
    /// distinguishes: the range and the centre come out the same).</remarks>
    public static (float Min, float Max) MinMax(ReadOnlySpan<float> v)
    {
        int n = v.Length, k = 0;
        if (n == 0) return (0, 0);
        ref float vr = ref MemoryMarshal.GetReference(v);
        float lo = vr, hi = vr;
        bool nan = false;
        if (Vector128.IsHardwareAccelerated && n >= 8)
        {
            Vector128<float> l0 = Vector128.LoadUnsafe(ref vr), h0 = l0, l1 = Vector128.LoadUnsafe(ref vr, 4), h1 = l1;
            nan = !Vector128.EqualsAll(l0, l0) | !Vector128.EqualsAll(l1, l1);
            for (k = 8; k + 8 <= n; k += 8)
            {
                var x = Vector128.LoadUnsafe(ref vr, (nuint)k);
                var y = Vector128.LoadUnsafe(ref vr, (nuint)(k + 4));
                nan |= !Vector128.EqualsAll(x, x) | !Vector128.EqualsAll(y, y);
                l0 = Vector128.MinNative(l0, x);
                h0 = Vector128.MaxNative(h0, x);
                l1 = Vector128.MinNative(l1, y);
                h1 = Vector128.MaxNative(h1, y);
            }
            l0 = Vector128.MinNative(l0, l1);
            h0 = Vector128.MaxNative(h0, h1);
            lo = Across.Min(l0);
            hi = Across.Max(h0);
        }
        for (; k < n; k++)
        {
            float f = Unsafe.Add(ref vr, k);
            nan |= float.IsNaN(f);
            lo = MathF.Min(lo, f);
            hi = MathF.Max(hi, f);
        }
        return nan ? (float.NaN, float.NaN) : (lo, hi);
    }

    /// <summary>
    /// The centred (asymmetric) form of v's range [lo, hi]: v ≈ centre + scale·q with q in [-127, 127], so the 255
    /// levels span exactly the values present (a symmetric max|v| scale wastes up to half of them on a lopsided range).
    /// A zero range gives scale 0 and q = 0: every v equals the centre exactly. Returns false for a non-finite range.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool CentredScale(float lo, float hi, out float centre, out float scale, out float inv)
    {
        centre = 0.5f * lo + 0.5f * hi;
        float range = hi - lo;
        if (!float.IsFinite(range) || !float.IsFinite(centre)) { centre = 0; scale = 0; inv = 0; return false; }
        scale = range * (1f / 254f);
        inv = scale > 0 ? 1f / scale : 0f;
        return true;
    }

    /// <summary>q[k] = clamp(round((v[k] − centre)·inv), -127, 127). v: [n], q: [≥n].</summary>
    public static void QuantizeCentred(ReadOnlySpan<float> v, float centre, float inv, Span<sbyte> q) => Quantize<Centred>(v, centre, inv, q);

    /// <summary>v's int8 copy about its range [lo, hi] (<see cref="CentredScale"/>, then <see cref="QuantizeCentred"/>):
    /// v ≈ centre + scale·q. False, with nothing written, for a non-finite range (the caller names what was not finite).</summary>
    public static bool TryQuantizeCentred(ReadOnlySpan<float> v, float lo, float hi, out float centre, out float scale, Span<sbyte> q)
    {
        if (!CentredScale(lo, hi, out centre, out scale, out float inv)) return false;
        Quantize<Centred>(v, centre, inv, q);
        return true;
    }

    // What is taken from v before scaling: nothing (Uncentred, so no subtraction is done at all) or the centre.
    private interface IShift
    {
        static abstract float Apply(float v, float centre);
        static abstract Vector128<float> Apply(Vector128<float> v, Vector128<float> centre);
    }

    private readonly struct Uncentred : IShift
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Apply(float v, float centre) => v;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Apply(Vector128<float> v, Vector128<float> centre) => v;
    }

    private readonly struct Centred : IShift
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Apply(float v, float centre) => v - centre;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Apply(Vector128<float> v, Vector128<float> centre) => v - centre;
    }

    // q[k] = clamp(round(S(v[k], centre)·inv), -127, 127): blocks of 16, one block of 8 (a forecaster's input row is
    // often exactly 8 values), then the scalar tail. Every lane does the same operations as QuantizeOne.
    private static void Quantize<S>(ReadOnlySpan<float> v, float centre, float inv, Span<sbyte> q) where S : struct, IShift
    {
        if (q.Length < v.Length) throw new ArgumentException("destination too short", nameof(q));
        int n = v.Length, k = 0;
        ref float vr = ref MemoryMarshal.GetReference(v);
        ref sbyte qr = ref MemoryMarshal.GetReference(q);
        if (Vector128.IsHardwareAccelerated)
        {
            var iv = Vector128.Create(inv);
            var c = Vector128.Create(centre);
            for (; k + 16 <= n; k += 16)
            {
                var a = Quantize4<S>(ref vr, k, c, iv);
                var b = Quantize4<S>(ref vr, k + 4, c, iv);
                var d = Quantize4<S>(ref vr, k + 8, c, iv);
                var e = Quantize4<S>(ref vr, k + 12, c, iv);
                Vector128.Narrow(Vector128.Narrow(a, b), Vector128.Narrow(d, e)).StoreUnsafe(ref qr, (nuint)k);
            }
            if (k + 8 <= n)
            {
                var s = Vector128.Narrow(Quantize4<S>(ref vr, k, c, iv), Quantize4<S>(ref vr, k + 4, c, iv));
                Unsafe.WriteUnaligned(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref qr, k)), Vector128.Narrow(s, s).AsInt64().ToScalar());
                k += 8;
            }
        }
        for (; k < n; k++) Unsafe.Add(ref qr, k) = QuantizeOne(S.Apply(Unsafe.Add(ref vr, k), centre), inv);
    }

    // Clamped while still float, so the conversion never meets a value out of int range (or NaN: the callers pass finite
    // values) and the unchecked native conversion gives the same integers as the saturating one, without its fix-ups.
    // round(clamp(v)) = clamp(round(v)) for the integer bounds ±127, so the bytes are QuantizeOne's.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Quantize4<S>(ref float vr, int k, Vector128<float> centre, Vector128<float> iv) where S : struct, IShift
        => Vector128.ConvertToInt32Native(Vector128.Round(Vector128.MinNative(Vector128.MaxNative(
            S.Apply(Vector128.LoadUnsafe(ref vr, (nuint)k), centre) * iv, Vector128.Create(-127f)), Vector128.Create(127f))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte QuantizeOne(float v, float inv)
    {
        float r = MathF.Round(v * inv);
        return (sbyte)(r > 127f ? 127 : r < -127f ? -127 : (int)r);
    }
}
