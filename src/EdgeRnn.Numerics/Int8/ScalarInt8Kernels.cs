using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace EdgeRnn.Numerics.Int8;

/// <summary>The reference: plain loops every SIMD path must match bit for bit.</summary>
public sealed class ScalarInt8Kernels : Int8Kernels
{
    public static readonly ScalarInt8Kernels Instance = new();
    private ScalarInt8Kernels() { }

    public override KernelPath Path => KernelPath.Scalar;
    public override string PathName => "scalar (reference loops)";

    public override int Dot(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        CheckDot(a, b);
        int s = 0;
        for (int k = 0; k < a.Length; k++) s += a[k] * b[k];
        return s;
    }

    public override void MatVec(ReadOnlySpan<sbyte> w, int stride, ReadOnlySpan<sbyte> x, Span<int> acc)
    {
        CheckMatVec(w, stride, x, acc);
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
