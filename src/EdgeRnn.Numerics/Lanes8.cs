using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace EdgeRnn.Numerics;

/// <summary>
/// Eight float32 lanes: the width of one block of hidden units in the fused int8 cell epilogue (one row block of
/// <see cref="Int8.PackedInt8Matrix"/>). Code generic over this interface is written once and compiled per width
/// (the JIT and Native AOT specialize generics over structs, and every member inlines):
/// <see cref="Lanes256"/> on x64 with AVX, <see cref="Lanes128x2"/> (two 128-bit halves) on ARM64 NEON, on SSE-only x64
/// and in software, and <see cref="LanesScalar"/>, the scalar reference the tests hold both to. Every member is an
/// IEEE-exact operation applied lane by lane, so all three give the same bits.
/// </summary>
public interface ILanes8<TSelf> : ILanes<TSelf> where TSelf : struct, ILanes8<TSelf>
{
    /// <summary>clamp(round-half-even(v·k), -127, 127) as eight bytes at p + offset.</summary>
    static abstract void StoreInt8(TSelf v, TSelf k, ref sbyte p, int offset);
}

/// <summary>Eight lanes in one 256-bit vector (x64 AVX): one <see cref="Width256"/>.</summary>
public readonly struct Lanes256 : ILanes8<Lanes256>
{
    private readonly Width256 _v;
    private Lanes256(Width256 v) => _v = v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Splat(float v) => new(Width256.Splat(v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Load(ref float p, int offset) => new(Width256.Load(ref p, offset));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 LoadInt(ref int p, int offset) => new(Width256.LoadInt(ref p, offset));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Lanes256 v, ref float p, int offset) => Width256.Store(v._v, ref p, offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreInt8(Lanes256 v, Lanes256 k, ref sbyte p, int offset)
    {
        var i = Vector256.ConvertToInt32(Vector256.MinNative(Vector256.MaxNative(Vector256.Round(v._v.V * k._v.V), Vector256.Create(-127f)), Vector256.Create(127f)));
        var s = Vector128.Narrow(i.GetLower(), i.GetUpper());
        Unsafe.WriteUnaligned(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref p, offset)), Vector128.Narrow(s, s).AsInt64().ToScalar());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 operator +(Lanes256 a, Lanes256 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 operator -(Lanes256 a, Lanes256 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 operator *(Lanes256 a, Lanes256 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 operator /(Lanes256 a, Lanes256 b) => new(a._v / b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Min(Lanes256 a, Lanes256 b) => new(Width256.Min(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Max(Lanes256 a, Lanes256 b) => new(Width256.Max(a._v, b._v));
}

/// <summary>Eight lanes as two 128-bit vectors (ARM64 NEON, SSE-only x64, software): two <see cref="Width128"/>.</summary>
public readonly struct Lanes128x2 : ILanes8<Lanes128x2>
{
    private readonly Width128 _lo, _hi;
    private Lanes128x2(Width128 lo, Width128 hi) { _lo = lo; _hi = hi; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 Splat(float v) => new(Width128.Splat(v), Width128.Splat(v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128x2 Load(ref float p, int offset) => new(Width128.Load(ref p, offset), Width128.Load(ref p, offset + 4));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128x2 LoadInt(ref int p, int offset) => new(Width128.LoadInt(ref p, offset), Width128.LoadInt(ref p, offset + 4));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Lanes128x2 v, ref float p, int offset)
    {
        Width128.Store(v._lo, ref p, offset);
        Width128.Store(v._hi, ref p, offset + 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreInt8(Lanes128x2 v, Lanes128x2 k, ref sbyte p, int offset)
    {
        var lo = Vector128.Create(-127f);
        var hi = Vector128.Create(127f);
        var a = Vector128.ConvertToInt32(Vector128.MinNative(Vector128.MaxNative(Vector128.Round(v._lo.V * k._lo.V), lo), hi));
        var b = Vector128.ConvertToInt32(Vector128.MinNative(Vector128.MaxNative(Vector128.Round(v._hi.V * k._hi.V), lo), hi));
        var s = Vector128.Narrow(a, b);
        Unsafe.WriteUnaligned(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref p, offset)), Vector128.Narrow(s, s).AsInt64().ToScalar());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 operator +(Lanes128x2 a, Lanes128x2 b) => new(a._lo + b._lo, a._hi + b._hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 operator -(Lanes128x2 a, Lanes128x2 b) => new(a._lo - b._lo, a._hi - b._hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 operator *(Lanes128x2 a, Lanes128x2 b) => new(a._lo * b._lo, a._hi * b._hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 operator /(Lanes128x2 a, Lanes128x2 b) => new(a._lo / b._lo, a._hi / b._hi);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 Min(Lanes128x2 a, Lanes128x2 b) => new(Width128.Min(a._lo, b._lo), Width128.Min(a._hi, b._hi));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128x2 Max(Lanes128x2 a, Lanes128x2 b) => new(Width128.Max(a._lo, b._lo), Width128.Max(a._hi, b._hi));
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
}
