using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// The reference: plain loops every SIMD path must match bit for bit. <see cref="Dot"/> and the row-major
/// <see cref="MatVec"/> are the definitions the tests and <c>edgernn self-test</c> hold every path's packed product to;
/// the packed product here reads the layout through <see cref="PackedInt8Matrix.IndexOf"/>.
/// </summary>
public sealed class ScalarInt8Kernels : Int8Kernels
{
    public static readonly ScalarInt8Kernels Instance = new();
    private ScalarInt8Kernels() { }

    public override string PathName => "scalar (reference loops)";

    /// <summary>Σ a[k]·b[k]. a: [n], b: [n].</summary>
    public int Dot(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths differ: {a.Length} and {b.Length}");
        int s = 0;
        for (int k = 0; k < a.Length; k++) s += a[k] * b[k];
        return s;
    }

    /// <summary>acc[r] = Σ_{k &lt; x.Length} w[r·stride + k]·x[k] for r &lt; acc.Length.</summary>
    /// <param name="w">[rows, stride] row-major, stride &gt;= x.Length</param>
    /// <param name="x">[cols]</param>
    /// <param name="acc">[rows] overwritten</param>
    public void MatVec(ReadOnlySpan<sbyte> w, int stride, ReadOnlySpan<sbyte> x, Span<int> acc)
    {
        if (stride < x.Length) throw new ArgumentException($"stride {stride} is less than the vector length {x.Length}", nameof(stride));
        if (acc.Length > 0 && w.Length < (long)(acc.Length - 1) * stride + x.Length)
            throw new ArgumentException($"weights hold {w.Length} values, need {(long)(acc.Length - 1) * stride + x.Length} for {acc.Length} rows of stride {stride}", nameof(w));
        for (int r = 0; r < acc.Length; r++) acc[r] = Dot(w.Slice(r * stride, x.Length), x);
    }

    protected override void PackedProduct(PackedInt8Matrix w, ref int q, Span<int> acc)
    {
        var data = w.Data;
        var x = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<int, sbyte>(ref q), w.Cols);
        for (int i = 0; i < acc.Length; i++)
        {
            int s = 0;
            for (int k = 0; k < w.Cols; k++) s += data[w.IndexOf(i, k)] * x[k];
            acc[i] = s;
        }
    }
}
