using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace EdgeRnn.Numerics;

/// <summary>
/// One SIMD register of float32 lanes, the width structs every hand-written float kernel is generic over:
/// <see cref="Width256"/> (x64 AVX) and <see cref="Width128"/> (ARM64 NEON, SSE-only x64). Each member is the one
/// Vector256/Vector128 call it wraps, so code written once over a width does the same operations in the same order at
/// either width. <see cref="FloatKernels"/> uses them directly; <see cref="Width256"/> is also the eight-lane block of
/// the activations and the int8 cell epilogues (<see cref="ILanes8{TSelf}"/>) on x64, and <see cref="Lanes128x2"/> (two
/// Vector128) that block elsewhere.
/// </summary>
public interface IFloatWidth<TSelf> : ILanes<TSelf> where TSelf : struct, IFloatWidth<TSelf>
{
    static abstract int Count { get; }
    static abstract TSelf Zero { get; }
    /// <summary>a·b + c: one FMA where the target has it, else a multiply and an add (never a software fused op).</summary>
    static abstract TSelf MultiplyAddEstimate(TSelf a, TSelf b, TSelf c);
    static abstract float Sum(TSelf v);
}

/// <summary>
/// What every lane type offers, lane by lane and IEEE-exact: the register widths (<see cref="IFloatWidth{TSelf}"/>) and
/// the eight-lane blocks built from them (<see cref="ILanes8{TSelf}"/>).
/// </summary>
public interface ILanes<TSelf> where TSelf : struct, ILanes<TSelf>
{
    static abstract TSelf Splat(float v);
    /// <summary>The lanes' floats at p + offset.</summary>
    static abstract TSelf Load(ref float p, int offset);
    /// <summary>The lanes' int32 at p + offset, converted to float (exact below 2^24, round to nearest beyond).</summary>
    static abstract TSelf LoadInt(ref int p, int offset);
    static abstract void Store(TSelf v, ref float p, int offset);
    static abstract TSelf operator +(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a, TSelf b);
    static abstract TSelf operator *(TSelf a, TSelf b);
    static abstract TSelf operator /(TSelf a, TSelf b);
    /// <summary>The hardware min (minps, fmin): equal to MathF.Min except for NaN and for a pair of zeros of opposite
    /// sign, which the forecaster never passes (its operands are finite and one of each pair is a nonzero constant, or
    /// the pair is (x, +0) where both orders give +0 for x = -0).</summary>
    static abstract TSelf Min(TSelf a, TSelf b);
    /// <summary>The hardware max (maxps, fmax); the same caveat as <see cref="Min"/>.</summary>
    static abstract TSelf Max(TSelf a, TSelf b);
}

/// <summary>Eight float lanes in one 256-bit vector (x64 AVX). Also the eight-lane block of the int8 epilogues and the
/// activations (<see cref="ILanes8{TSelf}"/>): one struct over the vector, not a wrapper of a wrapper, because Native
/// AOT's inliner left the members of a two-level wrapping as calls in the big epilogue methods.</summary>
public readonly struct Width256(Vector256<float> v) : IFloatWidth<Width256>, ILanes8<Width256>
{
    public readonly Vector256<float> V = v;
    public static int Count => Vector256<float>.Count;
    public static Width256 Zero => new(Vector256<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width256 Splat(float s) => new(Vector256.Create(s));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width256 Load(ref float p, int i) => new(Vector256.LoadUnsafe(ref p, (nuint)i));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width256 LoadInt(ref int p, int i) => new(Vector256.ConvertToSingle(Vector256.LoadUnsafe(ref p, (nuint)i)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Width256 x, ref float p, int i) => x.V.StoreUnsafe(ref p, (nuint)i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width256 MultiplyAddEstimate(Width256 a, Width256 b, Width256 c) => new(Vector256.MultiplyAddEstimate(a.V, b.V, c.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Width256 x) => Vector256.Sum(x.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width256 operator +(Width256 a, Width256 b) => new(a.V + b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width256 operator -(Width256 a, Width256 b) => new(a.V - b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width256 operator *(Width256 a, Width256 b) => new(a.V * b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width256 operator /(Width256 a, Width256 b) => new(a.V / b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width256 Min(Width256 a, Width256 b) => new(Vector256.MinNative(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width256 Max(Width256 a, Width256 b) => new(Vector256.MaxNative(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MinAcross(Width256 v) => Across.Min(Vector128.MinNative(v.V.GetLower(), v.V.GetUpper()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Width256 v) => Across.Max(Vector128.MaxNative(v.V.GetLower(), v.V.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreInt8(Width256 v, Width256 k, ref sbyte p, int offset)
    {
        var i = Vector256.ConvertToInt32(Vector256.MinNative(Vector256.MaxNative(Vector256.Round(v.V * k.V), Vector256.Create(-127f)), Vector256.Create(127f)));
        var s = Vector128.Narrow(i.GetLower(), i.GetUpper());
        Unsafe.WriteUnaligned(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref p, offset)), Vector128.Narrow(s, s).AsInt64().ToScalar());
    }
}

/// <summary>Four float lanes in one 128-bit vector (ARM64 NEON, SSE-only x64).</summary>
public readonly struct Width128(Vector128<float> v) : IFloatWidth<Width128>
{
    public readonly Vector128<float> V = v;
    public static int Count => Vector128<float>.Count;
    public static Width128 Zero => new(Vector128<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width128 Splat(float s) => new(Vector128.Create(s));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width128 Load(ref float p, int i) => new(Vector128.LoadUnsafe(ref p, (nuint)i));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width128 LoadInt(ref int p, int i) => new(Vector128.ConvertToSingle(Vector128.LoadUnsafe(ref p, (nuint)i)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Width128 x, ref float p, int i) => x.V.StoreUnsafe(ref p, (nuint)i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width128 MultiplyAddEstimate(Width128 a, Width128 b, Width128 c) => new(Vector128.MultiplyAddEstimate(a.V, b.V, c.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Width128 x) => Vector128.Sum(x.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width128 operator +(Width128 a, Width128 b) => new(a.V + b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width128 operator -(Width128 a, Width128 b) => new(a.V - b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width128 operator *(Width128 a, Width128 b) => new(a.V * b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width128 operator /(Width128 a, Width128 b) => new(a.V / b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width128 Min(Width128 a, Width128 b) => new(Vector128.MinNative(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Width128 Max(Width128 a, Width128 b) => new(Vector128.MaxNative(a.V, b.V));
}
