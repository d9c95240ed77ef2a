using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// float ↔ int8 conversions of the quantized forecaster. Rounding is to nearest, ties to even, on every path
/// (MathF.Round, roundps, frintn), and the dequantization epilogue uses only IEEE-exact × and +, in a fixed order,
/// so a step gives identical bits on AVX-512, AVX2, NEON and the scalar tail.
/// </summary>
public static class Int8Quantize
{
    /// <summary>Largest |v| (0 for an empty span). v: [n].</summary>
    public static float MaxAbs(ReadOnlySpan<float> v)
    {
        float m = 0;
        foreach (float f in v) m = MathF.Max(m, MathF.Abs(f));
        return m;
    }

    /// <summary>q[k] = clamp(round(v[k]·inv), -127, 127). v: [n], q: [≥n].</summary>
    public static void Quantize(ReadOnlySpan<float> v, float inv, Span<sbyte> q)
    {
        if (q.Length < v.Length) throw new ArgumentException("destination too short", nameof(q));
        int n = v.Length, k = 0;
        ref float vr = ref MemoryMarshal.GetReference(v);
        ref sbyte qr = ref MemoryMarshal.GetReference(q);
        if (Vector128.IsHardwareAccelerated)
        {
            var iv = Vector128.Create(inv);
            var lo = Vector128.Create(-127);
            var hi = Vector128.Create(127);
            for (; k + 16 <= n; k += 16)
            {
                var a = Vector128.Clamp(Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref vr, (nuint)k) * iv)), lo, hi);
                var b = Vector128.Clamp(Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref vr, (nuint)(k + 4)) * iv)), lo, hi);
                var c = Vector128.Clamp(Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref vr, (nuint)(k + 8)) * iv)), lo, hi);
                var d = Vector128.Clamp(Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref vr, (nuint)(k + 12)) * iv)), lo, hi);
                Vector128.Narrow(Vector128.Narrow(a, b), Vector128.Narrow(c, d)).StoreUnsafe(ref qr, (nuint)k);
            }
        }
        for (; k < n; k++) Unsafe.Add(ref qr, k) = QuantizeOne(Unsafe.Add(ref vr, k), inv);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static sbyte QuantizeOne(float v, float inv)
    {
        float r = MathF.Round(v * inv);
        return (sbyte)(r > 127f ? 127 : r < -127f ? -127 : (int)r);
    }

    /// <summary>y[r] = acc[r]·(s[r]·k) + b[r]. acc, s, b, y: [n].</summary>
    public static void ScaleBias(ReadOnlySpan<int> acc, ReadOnlySpan<float> s, float k, ReadOnlySpan<float> b, Span<float> y)
    {
        int n = acc.Length;
        if (s.Length < n || b.Length < n || y.Length < n) throw new ArgumentException("spans shorter than the accumulators");
        ref int ar = ref MemoryMarshal.GetReference(acc);
        ref float sr = ref MemoryMarshal.GetReference(s);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var kv = Vector128.Create(k);
            for (; i + 4 <= n; i += 4)
            {
                var t = Vector128.ConvertToSingle(Vector128.LoadUnsafe(ref ar, (nuint)i)) * (Vector128.LoadUnsafe(ref sr, (nuint)i) * kv);
                (t + Vector128.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = (float)Unsafe.Add(ref ar, i) * (Unsafe.Add(ref sr, i) * k) + Unsafe.Add(ref br, i);
    }

    /// <summary>y[r] = y[r] + acc[r]·(s[r]·k). acc, s, y: [n].</summary>
    public static void ScaleAdd(ReadOnlySpan<int> acc, ReadOnlySpan<float> s, float k, Span<float> y)
    {
        int n = acc.Length;
        if (s.Length < n || y.Length < n) throw new ArgumentException("spans shorter than the accumulators");
        ref int ar = ref MemoryMarshal.GetReference(acc);
        ref float sr = ref MemoryMarshal.GetReference(s);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var kv = Vector128.Create(k);
            for (; i + 4 <= n; i += 4)
            {
                var t = Vector128.ConvertToSingle(Vector128.LoadUnsafe(ref ar, (nuint)i)) * (Vector128.LoadUnsafe(ref sr, (nuint)i) * kv);
                (Vector128.LoadUnsafe(ref yr, (nuint)i) + t).StoreUnsafe(ref yr, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = Unsafe.Add(ref yr, i) + (float)Unsafe.Add(ref ar, i) * (Unsafe.Add(ref sr, i) * k);
    }

    /// <summary>
    /// y[r] = (a[r]·(sa[r]·ka) + b[r]) + c[r]·(sc[r]·kc): <see cref="ScaleBias"/> then <see cref="ScaleAdd"/> in one pass,
    /// the same IEEE operations in the same order (so the same bits), 8 lanes at a time where 256-bit vectors are fast.
    /// a, sa, b, c, sc, y: [n].
    /// </summary>
    public static void ScaleBiasAdd(ReadOnlySpan<int> a, ReadOnlySpan<float> sa, float ka, ReadOnlySpan<float> b,
                                    ReadOnlySpan<int> c, ReadOnlySpan<float> sc, float kc, Span<float> y)
    {
        int n = a.Length;
        if (sa.Length < n || b.Length < n || c.Length < n || sc.Length < n || y.Length < n) throw new ArgumentException("spans shorter than the accumulators");
        ref int ar = ref MemoryMarshal.GetReference(a);
        ref float sar = ref MemoryMarshal.GetReference(sa);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref int cr = ref MemoryMarshal.GetReference(c);
        ref float scr = ref MemoryMarshal.GetReference(sc);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var kav = Vector256.Create(ka);
            var kcv = Vector256.Create(kc);
            for (; i + 8 <= n; i += 8)
            {
                var t = Vector256.ConvertToSingle(Vector256.LoadUnsafe(ref ar, (nuint)i)) * (Vector256.LoadUnsafe(ref sar, (nuint)i) * kav)
                        + Vector256.LoadUnsafe(ref br, (nuint)i);
                (t + Vector256.ConvertToSingle(Vector256.LoadUnsafe(ref cr, (nuint)i)) * (Vector256.LoadUnsafe(ref scr, (nuint)i) * kcv)).StoreUnsafe(ref yr, (nuint)i);
            }
        }
        if (Vector128.IsHardwareAccelerated)
        {
            var kav = Vector128.Create(ka);
            var kcv = Vector128.Create(kc);
            for (; i + 4 <= n; i += 4)
            {
                var t = Vector128.ConvertToSingle(Vector128.LoadUnsafe(ref ar, (nuint)i)) * (Vector128.LoadUnsafe(ref sar, (nuint)i) * kav)
                        + Vector128.LoadUnsafe(ref br, (nuint)i);
                (t + Vector128.ConvertToSingle(Vector128.LoadUnsafe(ref cr, (nuint)i)) * (Vector128.LoadUnsafe(ref scr, (nuint)i) * kcv)).StoreUnsafe(ref yr, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float t = (float)Unsafe.Add(ref ar, i) * (Unsafe.Add(ref sar, i) * ka) + Unsafe.Add(ref br, i);
            Unsafe.Add(ref yr, i) = t + (float)Unsafe.Add(ref cr, i) * (Unsafe.Add(ref scr, i) * kc);
        }
    }
}
