using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Model.Quantized;

/// <summary>
/// Immutable int8 weights of a forecaster, quantized once from float parameters.
/// Each layer's two weight matrices hold every gate (LSTM i,f,g,o; GRU r,z,n) in one fused, gate-interleaved layout:
/// hidden units go in blocks of 8, and row block j·G + g holds gate g of units 8j..8j+7 (rows past H are zero). One
/// pass over the weights therefore computes a whole step, and the epilogue finds all G gates of 8 units side by side:
/// it turns them into the new c and h of those units in registers (<see cref="Int8Forecaster"/>). Per-row arrays
/// (scales, biases) follow the same order, zero on padding rows. Matrices are packed row-interleaved
/// (<see cref="PackedInt8Matrix"/>: 8 rows × 4 columns per 32 bytes) so the kernels accumulate 8 rows per instruction
/// with no per-row horizontal reduction. Symmetric per-row quantization: q = round(w / s), s = max|row| / 127.
/// Sigmoid gates are stored pre-halved (scales and biases × 0.5, exact in binary) so that every gate goes through the
/// one tanh: σ(x) = 0.5·tanh(x/2) + 0.5.
/// </summary>
public sealed class Int8Weights
{
    internal sealed class Layer
    {
        public required PackedInt8Matrix Wih;   // [UB·G·8, InSize] gate-interleaved, packed
        public required float[] Sih;   // [UB·G·8] per-row weight scale
        public required PackedInt8Matrix Whh;   // [UB·G·8, H]
        public required float[] Shh;   // [UB·G·8]
        public required float[] Uih;   // [UB·G·8] s_ih·Σ_k q_ih[r, k]: what an input centre c adds per unit of c
        public required float[] Uhh;   // [UB·G·8] s_hh·Σ_k q_hh[r, k]
        public required float[] Bias;  // [UB·G·8] b_ih + b_hh (GRU n rows: b_in only)
        public required float[] Bhn;   // [UB·8] GRU b_hn, else empty
    }

    public ForecasterShape Shape { get; }
    internal Layer[] Layers { get; }
    /// <summary>Blocks of 8 hidden units: ⌈H / 8⌉.</summary>
    internal int UnitBlocks { get; }
    /// <summary>The head stays float32, transposed and padded: [H, OB·8], OB = ⌈O/8⌉, zero past O. It is O·H of the
    /// step's multiply-adds (a few percent), but on few-output models its rounding was most of the int8 error: a
    /// quantized head multiplies every h quantization error and its own weight errors straight into the output, where
    /// the gates squash theirs (PyTorch's int8 LSTMs, one output: 5-7× the error of the same model with a float head).</summary>
    internal float[] HeadWT { get; }
    /// <summary>⌈O/8⌉</summary>
    internal int OutBlocks { get; }
    internal float[] HeadBias { get; }   // [OB·8] zero past O
    internal float[] InMean { get; }     // [In]
    internal float[] InStd { get; }      // [In]
    internal float[] OutMean { get; }    // [O]
    internal float[] OutStd { get; }     // [O]

    private Int8Weights(ForecasterParameters p)
    {
        var s = p.Shape;
        Shape = s;
        int h = s.HiddenSize, g = s.Gates, gh = g * h;
        int ub = UnitBlocks = (h + 7) / 8;
        Layers = new Layer[s.NumLayers];
        for (int l = 0; l < s.NumLayers; l++)
        {
            int inSize = s.LayerInputSize(l);
            var wih = new sbyte[gh * inSize];
            var whh = new sbyte[gh * h];
            float[] sih = new float[gh], shh = new float[gh], bias = new float[gh];
            var bhn = s.Arch == RnnArch.Gru ? new float[ub * 8] : [];
            QuantizeRows(p.WeightIh(l), gh, inSize, wih, sih, "weight_ih_l" + l);
            QuantizeRows(p.WeightHh(l), gh, h, whh, shh, "weight_hh_l" + l);
            var bih = p.BiasIh(l);
            var bhh = p.BiasHh(l);
            for (int r = 0; r < gh; r++)
            {
                bool gruN = s.Arch == RnnArch.Gru && r >= 2 * h;
                bias[r] = gruN ? bih[r] : bih[r] + bhh[r];
                if (gruN) bhn[r - 2 * h] = bhh[r];
                if (!IsFinite(bias[r]) || !IsFinite(bhh[r])) throw new ArgumentException($"rnn.bias of layer {l} row {r} is not finite");
                if (IsSigmoidRow(s.Arch, r, h))
                {
                    sih[r] *= 0.5f;
                    shh[r] *= 0.5f;
                    bias[r] *= 0.5f;
                }
            }
            Layers[l] = new Layer
            {
                Wih = PackedInt8Matrix.Pack(InterleaveRows(wih, g, h, inSize), ub * g * 8, inSize, inSize), Sih = InterleaveRows(sih, g, h, 1),
                Whh = PackedInt8Matrix.Pack(InterleaveRows(whh, g, h, h), ub * g * 8, h, h), Shh = InterleaveRows(shh, g, h, 1),
                Uih = InterleaveRows(ScaledRowSums(wih, gh, inSize, sih), g, h, 1), Uhh = InterleaveRows(ScaledRowSums(whh, gh, h, shh), g, h, 1),
                Bias = InterleaveRows(bias, g, h, 1), Bhn = bhn,
            };
        }
        int ob = OutBlocks = (s.OutputSize + 7) / 8;
        HeadWT = new float[h * ob * 8];
        HeadBias = new float[ob * 8];
        ReadOnlySpan<float> hw = p.HeadWeight;
        for (int o = 0; o < s.OutputSize; o++)
        {
            for (int k = 0; k < h; k++)
            {
                float v = hw[o * h + k];
                if (!float.IsFinite(v)) throw new ArgumentException($"head.weight row {o} holds a non-finite value");
                HeadWT[k * ob * 8 + o] = v;
            }
            HeadBias[o] = p.HeadBias[o];
            if (!float.IsFinite(HeadBias[o])) throw new ArgumentException($"head.bias {o} is not finite");
        }
        InMean = Vec(p.InputMean, s.InputSize, 0f, "input_mean");
        InStd = Vec(p.InputStd, s.InputSize, 1f, "input_std");
        OutMean = Vec(p.OutputMean, s.OutputSize, 0f, "output_mean");
        OutStd = Vec(p.OutputStd, s.OutputSize, 1f, "output_std");
    }

    /// <summary>
    /// Row-major rows in PyTorch's gate stacking [G·H, width] → the gate-interleaved order [⌈H/8⌉·G·8, width]:
    /// destination row (j·G + g)·8 + i is source row g·H + 8j + i, or zeros where 8j + i ≥ H.
    /// </summary>
    internal static T[] InterleaveRows<T>(T[] src, int gates, int h, int width)
    {
        int ub = (h + 7) / 8;
        var dst = new T[ub * gates * 8 * width];
        for (int j = 0; j < ub; j++)
            for (int g = 0; g < gates; g++)
                for (int i = 0; i < 8 && 8 * j + i < h; i++)
                    Array.Copy(src, (g * h + 8 * j + i) * width, dst, ((j * gates + g) * 8 + i) * width, width);
        return dst;
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

    /// <summary>scale[r]·Σ_k q[r, k] per row: the activations are quantized about a centre c (v ≈ c + s·q), so a
    /// product row gains c·s_w·Σ_k q_w[r, k] beside the integer sum. q: [rows, cols], scale: [rows].</summary>
    private static float[] ScaledRowSums(sbyte[] q, int rows, int cols, float[] scale)
    {
        var u = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            int sum = 0;
            for (int k = 0; k < cols; k++) sum += q[r * cols + k];
            u[r] = scale[r] * sum;
        }
        return u;
    }

    /// <summary>w: [rows, cols] float → q: [rows, cols] int8, scale: [rows].</summary>
    internal static void QuantizeRows(ReadOnlySpan<float> w, int rows, int cols, sbyte[] q, float[] scale, string name)
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
            Int8Quantize.Quantize(row, 127f / m, q.AsSpan(r * cols, cols));
        }
    }
}
