using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Model.Quantized;

/// <summary>
/// Immutable int8 weights of a forecaster, quantized once from float parameters.
/// Each weight matrix keeps PyTorch's gate stacking (LSTM i,f,g,o; GRU r,z,n) as one fused [G·H, stride] matrix, so a
/// single pass over it computes every gate of a step, and the epilogue then runs each gate over contiguous units
/// (vectorized across units rather than across a unit's gates). Rows are padded with zeros to a stride that is a
/// multiple of 32 while quantizing, then packed row-interleaved (<see cref="PackedInt8Matrix"/>: 8 rows × 4 columns per
/// 32 bytes) so the kernels accumulate 8 rows per instruction with no per-row horizontal reduction. Symmetric per-row quantization: q = round(w / s), s = max|row| / 127.
/// Sigmoid gates are stored pre-halved (scales and biases × 0.5, exact in binary) so that the whole gate block goes
/// through one tanh pass: σ(x) = 0.5·tanh(x/2) + 0.5.
/// </summary>
public sealed class Int8Weights
{
    internal sealed class Layer
    {
        public required int InSize, InStride;
        public required PackedInt8Matrix Wih;   // [G·H, InSize] row-interleaved
        public required float[] Sih;   // [G·H] per-row weight scale
        public required PackedInt8Matrix Whh;   // [G·H, H] row-interleaved
        public required float[] Shh;   // [G·H]
        public required float[] Bias;  // [G·H] b_ih + b_hh (GRU n rows: b_in only)
        public required float[] Bhn;   // [H] GRU b_hn, else empty
    }

    public ForecasterShape Shape { get; }
    internal Layer[] Layers { get; }
    internal int HStride { get; }
    internal PackedInt8Matrix HeadW { get; }  // [O, H] row-interleaved
    internal float[] HeadScale { get; }  // [O]
    internal float[] HeadBias { get; }   // [O]
    internal float[] InMean { get; }     // [In]
    internal float[] InStd { get; }      // [In]
    internal float[] OutMean { get; }    // [O]
    internal float[] OutStd { get; }     // [O]

    internal static int Pad(int n) => (n + 31) & ~31;

    private Int8Weights(ForecasterParameters p)
    {
        var s = p.Shape;
        Shape = s;
        int h = s.HiddenSize, g = s.Gates, gh = g * h;
        HStride = Pad(h);
        Layers = new Layer[s.NumLayers];
        for (int l = 0; l < s.NumLayers; l++)
        {
            int inSize = s.LayerInputSize(l), inStride = Pad(inSize);
            var wih = new sbyte[gh * inStride];
            var whh = new sbyte[gh * HStride];
            float[] sih = new float[gh], shh = new float[gh];
            QuantizeRows(p.WeightIh(l), gh, inSize, inStride, wih, sih, "weight_ih_l" + l);
            QuantizeRows(p.WeightHh(l), gh, h, HStride, whh, shh, "weight_hh_l" + l);
            var layer = new Layer
            {
                InSize = inSize, InStride = inStride,
                Wih = PackedInt8Matrix.Pack(wih, gh, inSize, inStride), Sih = sih,
                Whh = PackedInt8Matrix.Pack(whh, gh, h, HStride), Shh = shh,
                Bias = new float[gh], Bhn = s.Arch == RnnArch.Gru ? new float[h] : [],
            };
            var bih = p.BiasIh(l);
            var bhh = p.BiasHh(l);
            for (int r = 0; r < gh; r++)
            {
                bool gruN = s.Arch == RnnArch.Gru && r >= 2 * h;
                layer.Bias[r] = gruN ? bih[r] : bih[r] + bhh[r];
                if (gruN) layer.Bhn[r - 2 * h] = bhh[r];
                if (!IsFinite(layer.Bias[r]) || !IsFinite(bhh[r])) throw new ArgumentException($"rnn.bias of layer {l} row {r} is not finite");
                if (IsSigmoidRow(s.Arch, r, h))
                {
                    layer.Sih[r] *= 0.5f;
                    layer.Shh[r] *= 0.5f;
                    layer.Bias[r] *= 0.5f;
                }
            }
            Layers[l] = layer;
        }
        var headW = new sbyte[s.OutputSize * HStride];
        HeadScale = new float[s.OutputSize];
        QuantizeRows(p.HeadWeight, s.OutputSize, h, HStride, headW, HeadScale, "head.weight");
        HeadW = PackedInt8Matrix.Pack(headW, s.OutputSize, h, HStride);
        HeadBias = p.HeadBias.ToArray();
        InMean = Vec(p.InputMean, s.InputSize, 0f, "input_mean");
        InStd = Vec(p.InputStd, s.InputSize, 1f, "input_std");
        OutMean = Vec(p.OutputMean, s.OutputSize, 0f, "output_mean");
        OutStd = Vec(p.OutputStd, s.OutputSize, 1f, "output_std");
    }

    /// <summary>Quantize float parameters (any model file's) into a new immutable weights object.</summary>
    public static Int8Weights Quantize(ForecasterParameters p) => new(p);

    /// <summary>LSTM i, f, o and GRU r, z rows go through the sigmoid.</summary>
    internal static bool IsSigmoidRow(RnnArch arch, int r, int h) => arch switch
    {
        RnnArch.Lstm => r < 2 * h || r >= 3 * h,
        RnnArch.Gru => r < 2 * h,
        _ => false,
    };

    private static bool IsFinite(float f) => float.IsFinite(f);

    private static float[] Vec(float[]? v, int n, float fill, string name)
    {
        if (v is null) { var a = new float[n]; Array.Fill(a, fill); return a; }
        if (v.Length != n) throw new ArgumentException($"{name} has {v.Length} values, expected {n}");
        foreach (float f in v) if (!float.IsFinite(f)) throw new ArgumentException($"{name} holds a non-finite value");
        return (float[])v.Clone();
    }

    /// <summary>w: [rows, cols] float → q: [rows, stride] int8 (zero padded), scale: [rows].</summary>
    internal static void QuantizeRows(ReadOnlySpan<float> w, int rows, int cols, int stride, sbyte[] q, float[] scale, string name)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = w.Slice(r * cols, cols);
            float m = 0;
            foreach (float f in row)
            {
                if (!float.IsFinite(f)) throw new ArgumentException($"{name} row {r} holds a non-finite value");
                m = MathF.Max(m, MathF.Abs(f));
            }
            if (m == 0) { scale[r] = 0; continue; }
            scale[r] = m / 127f;
            Int8Quantize.Quantize(row, 127f / m, q.AsSpan(r * stride, cols));
        }
    }
}
