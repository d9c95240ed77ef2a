using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace EdgeRnn.Numerics;

/// <summary>
/// Eight float32 lanes: the width of one block of hidden units in the fused int8 cell epilogue (one row block of
/// <see cref="Int8.PackedInt8Matrix"/>). Code generic over this interface is written once and compiled per width
/// (the JIT and Native AOT specialize generics over structs, and every member inlines):
/// <see cref="Width256"/> on x64 with AVX (the float kernels' 256-bit width struct itself), <see cref="Lanes128x2"/> (two
/// 128-bit halves) on ARM64 NEON, on SSE-only x64 and in software, and <see cref="LanesScalar"/>, the scalar reference
/// the tests hold both to. Each holds its vectors directly (one level of struct over Vector256/Vector128): Native AOT's
/// inliner gave up on a second level of wrapping in the big epilogue methods and left Store and operator * as calls. Every member is an
/// IEEE-exact operation applied lane by lane, so all three give the same bits.
/// </summary>
public interface ILanes8<TSelf> : ILanes<TSelf> where TSelf : struct, ILanes8<TSelf>
{
    /// <summary>clamp(round-half-even(v·k), -127, 127) as eight bytes at p + offset.</summary>
    static abstract void StoreInt8(TSelf v, TSelf k, ref sbyte p, int offset);
    /// <summary>The smallest lane (hardware min between lanes: for finite lanes any order gives the same value, a zero's
    /// sign aside).</summary>
    static abstract float MinAcross(TSelf v);
    /// <summary>The largest lane; the same caveat as <see cref="MinAcross"/>.</summary>
    static abstract float MaxAcross(TSelf v);
    /// <summary>The lanes' sum in an order each width fixes for itself (used only where the order cannot matter, e.g.
    /// to see whether any lane is NaN).</summary>
    static abstract float Sum(TSelf v);
}

/// <summary>Eight lanes as two 128-bit vectors (ARM64 NEON, SSE-only x64, software).</summary>
public readonly struct Lanes128x2 : ILanes8<Lanes128x2>
{
    private readonly Vector128<float> _lo, _hi;
    private Lanes128x2(Vector128<float> lo, Vector128<float> hi) { _lo = lo; _hi = hi; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 Splat(float v) => new(Vector128.Create(v), Vector128.Create(v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128x2 Load(ref float p, int offset) => new(Vector128.LoadUnsafe(ref p, (nuint)offset), Vector128.LoadUnsafe(ref p, (nuint)(offset + 4)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128x2 LoadInt(ref int p, int offset)
        => new(Vector128.ConvertToSingle(Vector128.LoadUnsafe(ref p, (nuint)offset)), Vector128.ConvertToSingle(Vector128.LoadUnsafe(ref p, (nuint)(offset + 4))));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Lanes128x2 v, ref float p, int offset)
    {
        v._lo.StoreUnsafe(ref p, (nuint)offset);
        v._hi.StoreUnsafe(ref p, (nuint)(offset + 4));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreInt8(Lanes128x2 v, Lanes128x2 k, ref sbyte p, int offset)
    {
        var lo = Vector128.Create(-127f);
        var hi = Vector128.Create(127f);
        var a = Vector128.ConvertToInt32(Vector128.MinNative(Vector128.MaxNative(Vector128.Round(v._lo * k._lo), lo), hi));
        var b = Vector128.ConvertToInt32(Vector128.MinNative(Vector128.MaxNative(Vector128.Round(v._hi * k._hi), lo), hi));
        var s = Vector128.Narrow(a, b);
        Unsafe.WriteUnaligned(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref p, offset)), Vector128.Narrow(s, s).AsInt64().ToScalar());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 operator +(Lanes128x2 a, Lanes128x2 b) => new(a._lo + b._lo, a._hi + b._hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 operator -(Lanes128x2 a, Lanes128x2 b) => new(a._lo - b._lo, a._hi - b._hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 operator *(Lanes128x2 a, Lanes128x2 b) => new(a._lo * b._lo, a._hi * b._hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 operator /(Lanes128x2 a, Lanes128x2 b) => new(a._lo / b._lo, a._hi / b._hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128x2 Min(Lanes128x2 a, Lanes128x2 b) => new(Vector128.MinNative(a._lo, b._lo), Vector128.MinNative(a._hi, b._hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128x2 Max(Lanes128x2 a, Lanes128x2 b) => new(Vector128.MaxNative(a._lo, b._lo), Vector128.MaxNative(a._hi, b._hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MinAcross(Lanes128x2 v) => Across.Min(Vector128.MinNative(v._lo, v._hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Lanes128x2 v) => Across.Max(Vector128.MaxNative(v._lo, v._hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Lanes128x2 v) => Vector128.Sum(v._lo + v._hi);
}

/// <summary>Min and max across the four lanes of a Vector128, in registers (two shuffles): the reductions behind
/// <see cref="ILanes8{TSelf}.MinAcross"/> and <see cref="ILanes8{TSelf}.MaxAcross"/> for both vector widths.</summary>
internal static class Across
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Min(Vector128<float> m)
    {
        m = Vector128.MinNative(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        return Vector128.MinNative(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Max(Vector128<float> m)
    {
        m = Vector128.MaxNative(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        return Vector128.MaxNative(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }
}

/// <summary>Eight lanes as eight floats and plain scalar loops: the reference for the vector widths.</summary>
public readonly struct LanesScalar : ILanes8<LanesScalar>
{
    [InlineArray(8)]
    private struct Float8 { private float _e; }

    private readonly Float8 _v;
    private LanesScalar(Float8 v) => _v = v;

    private static LanesScalar Map(LanesScalar a, LanesScalar b, Func<float, float, float> f)
    {
        Float8 r = default;
        for (int i = 0; i < 8; i++) r[i] = f(a._v[i], b._v[i]);
        return new(r);
    }

    public static LanesScalar Splat(float v)
    {
        Float8 r = default;
        for (int i = 0; i < 8; i++) r[i] = v;
        return new(r);
    }

    public static LanesScalar Load(ref float p, int offset)
    {
        Float8 r = default;
        for (int i = 0; i < 8; i++) r[i] = Unsafe.Add(ref p, offset + i);
        return new(r);
    }

    public static LanesScalar LoadInt(ref int p, int offset)
    {
        Float8 r = default;
        for (int i = 0; i < 8; i++) r[i] = Unsafe.Add(ref p, offset + i);
        return new(r);
    }

    public static void Store(LanesScalar v, ref float p, int offset)
    {
        for (int i = 0; i < 8; i++) Unsafe.Add(ref p, offset + i) = v._v[i];
    }

    public static void StoreInt8(LanesScalar v, LanesScalar k, ref sbyte p, int offset)
    {
        for (int i = 0; i < 8; i++) Unsafe.Add(ref p, offset + i) = Int8.Int8Quantize.QuantizeOne(v._v[i], k._v[i]);
    }

    public static LanesScalar operator +(LanesScalar a, LanesScalar b) => Map(a, b, static (x, y) => x + y);
    public static LanesScalar operator -(LanesScalar a, LanesScalar b) => Map(a, b, static (x, y) => x - y);
    public static LanesScalar operator *(LanesScalar a, LanesScalar b) => Map(a, b, static (x, y) => x * y);
    public static LanesScalar operator /(LanesScalar a, LanesScalar b) => Map(a, b, static (x, y) => x / y);
    public static LanesScalar Min(LanesScalar a, LanesScalar b) => Map(a, b, MathF.Min);
    public static LanesScalar Max(LanesScalar a, LanesScalar b) => Map(a, b, MathF.Max);

    public static float MinAcross(LanesScalar v)
    {
        float m = v._v[0];
        for (int i = 1; i < 8; i++) m = MathF.Min(m, v._v[i]);
        return m;
    }

    public static float MaxAcross(LanesScalar v)
    {
        float m = v._v[0];
        for (int i = 1; i < 8; i++) m = MathF.Max(m, v._v[i]);
        return m;
    }

    public static float Sum(LanesScalar v)
    {
        float s = 0;
        for (int i = 0; i < 8; i++) s += v._v[i];
        return s;
    }
}
