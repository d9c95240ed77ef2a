using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using EdgeRnn.Numerics;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Model.Quantized;

/// <summary>
/// The int8 streaming forecaster. Per layer and step: the input vector is quantized about its own per-step range
/// (v ≈ c + s·q, c the middle of [min, max], s = (max − min)/254: layer 0's x, and every layer's h, whose range often
/// spans a small lopsided part of (-1, 1) that a fixed 1/127 scale would cover with a few dozen levels; deeper layers
/// reuse the int8 h of the layer below), two int8 products with int32 accumulators over
/// the gate-interleaved weights (ih and hh kept apart because GRU's n gate needs r ⊙ (W_hn h + b_hn) and the two
/// inputs have different scales), then one fused float32 epilogue over blocks of 8 hidden units (all G gates of a
/// block side by side): acc_ih·(s_row·s_x) + bias + c_x·u_ih + acc_hh·(s_row·s_h) + c_h·u_hh (u = s_row·Σ_k q[row, k],
/// the centre's share), every gate's activation, the cell update and
/// the new h, with no pass over the whole accumulator array in between; then h's range and its int8 copy for the next
/// product (one short pass over H floats). The head (O·H multiply-adds, a few percent of the step) reads the float h
/// of the top layer with float32 weights: quantizing it was most of the error on few-output models (see
/// <see cref="Int8Weights.HeadWT"/>). With both, the error stays below PyTorch's dynamic int8 on every model of
/// TorchInt8ComparisonTests (0.1-0.7× of it).
/// The epilogue and head use only IEEE-exact operations in a fixed order, and the integer products are exact on every kernel
/// path, so x64 (AVX-512, AVX2) and ARM64 (NEON, SDOT) give identical outputs.
/// Weights are an immutable <see cref="Int8Weights"/> swapped atomically by <see cref="Requantize"/> (online
/// fine-tuning quantizes its float master again); each step reads the reference once. Step allocates nothing.
/// </summary>
public sealed partial class Int8Forecaster : IForecaster
{
    private Int8Weights _weights;
    private readonly Int8Kernels _k;
    private readonly float[][] _h, _c;   // per layer [UB·8] (c: LSTM only); padding units stay 0
    private readonly float[] _x;         // [In] normalized input
    private readonly sbyte[] _xq;        // [In]
    private readonly sbyte[][] _hq;      // per layer [UB·8]: the int8 h the next step reads
    private readonly int[] _qh, _qx;     // the layer's h and input as prepared quads (Int8Kernels.PrepareQuads)
    private readonly float[] _hScale, _hCentre; // per layer: h ≈ centre + scale·_hq
    private readonly int[] _accIh, _accHh; // [UB·G·8]
    private readonly float[] _out;       // [OB·8] the head's outputs before the copy to the caller's span
    private readonly EpilogueLanes _lanes;
    private readonly float[] _scratch;   // [2·UB·8] GRU: z and n's pre-activation between the epilogue's two passes

    private readonly bool _softmax; // metadata output_activation = softmax
    public ForecasterShape Shape { get; }
    public int StateSize => Shape.StateSize;
    public Int8Kernels Kernels => _k;
    public Int8Weights Weights => Volatile.Read(ref _weights);

    public Int8Forecaster(ForecasterParameters p) : this(p, Int8Kernels.Active) { }

    /// <param name="kernels">a forced kernel path (tests, benchmarks); the default is <see cref="Int8Kernels.Active"/></param>
    public Int8Forecaster(ForecasterParameters p, Int8Kernels kernels) : this(p, kernels, EpilogueLanes.Auto) { }

    /// <summary>The lane width of the float epilogue: the fastest for this CPU, or one forced (tests, self-test).</summary>
    public enum EpilogueLanes { Auto, Vector256, Vector128x2, Scalar }

    /// <param name="kernels">the integer kernel path</param>
    /// <param name="lanes">the epilogue's lane width; every width gives the same bits, which the tests check. The 256-bit
    /// width exists only where 256-bit vectors are accelerated (so ARM64 and baseline-x64 binaries do not carry it).</param>
    public Int8Forecaster(ForecasterParameters p, Int8Kernels kernels, EpilogueLanes lanes)
    {
        if (lanes == EpilogueLanes.Vector256 && !Vector256.IsHardwareAccelerated)
            throw new PlatformNotSupportedException("256-bit vectors are not accelerated on this CPU");
        _lanes = lanes != EpilogueLanes.Auto ? lanes : Vector256.IsHardwareAccelerated ? EpilogueLanes.Vector256 : EpilogueLanes.Vector128x2;
        _weights = Int8Weights.Quantize(p);
        _softmax = OutputHead.Activation(p) == OutputActivation.Softmax;
        _k = kernels;
        var s = Shape = p.Shape;
        int hp = _weights.UnitBlocks * 8, rows = hp * s.Gates;
        _h = new float[s.NumLayers][];
        _c = new float[s.NumLayers][];
        _hq = new sbyte[s.NumLayers][];
        for (int l = 0; l < s.NumLayers; l++)
        {
            _h[l] = new float[hp];
            _c[l] = s.Arch == RnnArch.Lstm ? new float[hp] : [];
            _hq[l] = new sbyte[hp];
        }
        _qh = new int[Int8Kernels.QuadCount(s.HiddenSize)];
        _qx = new int[Math.Max(Int8Kernels.QuadCount(s.InputSize), _qh.Length)];
        _x = new float[s.InputSize];
        _xq = new sbyte[s.InputSize];
        _hScale = new float[s.NumLayers];
        _hCentre = new float[s.NumLayers];
        _accIh = new int[rows];
        _accHh = new int[rows];
        _out = new float[_weights.OutBlocks * 8];
        _scratch = s.Arch == RnnArch.Gru ? new float[2 * hp] : [];
    }

    /// <summary>Quantize updated float parameters and swap them in atomically; the step in progress, if any, finishes
    /// with the weights it started with. Returns the new weights.</summary>
    public Int8Weights Requantize(ForecasterParameters p)
    {
        var w = Int8Weights.Quantize(p);
        SwapWeights(w);
        return w;
    }

    /// <summary>Re-quantizes in place (an atomic swap) and returns this forecaster.</summary>
    public IForecaster WithWeights(ForecasterParameters parameters)
    {
        Requantize(parameters);
        return this;
    }

    public void SwapWeights(Int8Weights w)
    {
        if (w.Shape != Shape) throw new ArgumentException($"weights of shape {w.Shape} do not fit a forecaster of shape {Shape}");
        Volatile.Write(ref _weights, w);
    }

    public void Step(ReadOnlySpan<float> input, Span<float> output)
    {
        var w = Volatile.Read(ref _weights);
        var s = Shape;
        if (input.Length != s.InputSize) throw new ArgumentException($"input has {input.Length} values, the model takes {s.InputSize}", nameof(input));
        if (output.Length < s.OutputSize) throw new ArgumentException($"output has room for {output.Length} values, the model gives {s.OutputSize}", nameof(output));
        switch (_lanes)
        {
            case EpilogueLanes.Vector256 when Vector256.IsHardwareAccelerated: Step<Width256>(w, input, output[..s.OutputSize]); break;
            case EpilogueLanes.Vector128x2: Step<Lanes128x2>(w, input, output[..s.OutputSize]); break;
            default: Step<LanesScalar>(w, input, output[..s.OutputSize]); break;
        }
        // The output side only: the file's user sees softmax over the head's float outputs.
        if (_softmax) OutputHead.Softmax(output[..s.OutputSize]);
    }

    private void Step<V>(Int8Weights w, ReadOnlySpan<float> input, Span<float> y) where V : struct, ILanes8<V>
    {
        var s = Shape;
        int h = s.HiddenSize;
        NormalizeInput<V>(input, w.InMean, w.InStd, _x);
        var (lo, hi) = Int8Quantize.MinMax(_x);
        if (!Int8Quantize.TryQuantizeCentred(_x, lo, hi, out float cIn, out float sIn, _xq))
            throw new ArgumentException("input holds a non-finite value (after normalization), or values too far apart for float32", nameof(input));
        ReadOnlySpan<sbyte> xq = _xq;

        for (int l = 0; l < s.NumLayers; l++)
        {
            var L = w.Layers[l];
            // The recurrent product first: it needs only the previous step's h, so the core runs it while the input's
            // chain (normalize → max → quantize, or the layer below) is still in flight. The epilogue then overwrites
            // _hq[l] in place (the products read the quads). Splitting the products and epilogue into chunks of unit
            // blocks, to overlap one chunk's float work with the next chunk's products, measured slower (385 ns for
            // 2-block chunks, 320 for 4, 300 unsplit, LSTM 8-64-24 on Zen 4).
            var qx = _qx.AsSpan(0, Int8Kernels.QuadCount(xq.Length));
            _k.PrepareQuads(_hq[l].AsSpan(0, h), _qh);
            _k.MatVecPacked(L.Whh, _qh, _accHh);
            _k.PrepareQuads(xq, qx);
            _k.MatVecPacked(L.Wih, qx, _accIh);
            var (hLo, hHi) = new Epilogue(L, _accIh, _accHh, sIn, cIn, _hScale[l], _hCentre[l], _h[l], _c[l], _scratch).Run<V>(s.Arch, w.UnitBlocks, h);
            QuantizeH(l, hLo, hHi);
            xq = _hq[l].AsSpan(0, h);
            sIn = _hScale[l];
            cIn = _hCentre[l];
        }

        Head<V>(w, _h[s.NumLayers - 1], h, _out);
        Denormalize<V>(_out, w.OutStd, w.OutMean, y);
    }

    /// <summary>x = (input - mean) / std, eight lanes at a time then scalar (the same operations).</summary>
    private static void NormalizeInput<V>(ReadOnlySpan<float> input, float[] mean, float[] std, float[] x) where V : struct, ILanes8<V>
    {
        int n = x.Length, i = 0;
        ref float ir = ref MemoryMarshal.GetReference(input);
        ref float mr = ref MemoryMarshal.GetArrayDataReference(mean);
        ref float sr = ref MemoryMarshal.GetArrayDataReference(std);
        ref float xr = ref MemoryMarshal.GetArrayDataReference(x);
        for (; i + 8 <= n; i += 8) V.Store((V.Load(ref ir, i) - V.Load(ref mr, i)) / V.Load(ref sr, i), ref xr, i);
        for (; i < n; i++) Unsafe.Add(ref xr, i) = (Unsafe.Add(ref ir, i) - Unsafe.Add(ref mr, i)) / Unsafe.Add(ref sr, i);
    }

    /// <summary>
    /// The float32 head, eight outputs per lane vector: out[o] = ((s0 + s1) + (s2 + s3)) + b[o], s_j the sum over the
    /// units k ≡ j (mod 4) in rising k. Four chains hide the adds' latency; the order is fixed, so every width agrees.
    /// </summary>
    /// <param name="h">[≥ n] the top layer's float h</param>
    /// <param name="o">[OB·8]</param>
    private static void Head<V>(Int8Weights w, float[] h, int n, float[] o) where V : struct, ILanes8<V>
    {
        int stride = w.OutBlocks * 8;
        ref float hr = ref MemoryMarshal.GetArrayDataReference(h);
        ref float wr = ref MemoryMarshal.GetArrayDataReference(w.HeadWT);
        ref float br = ref MemoryMarshal.GetArrayDataReference(w.HeadBias);
        ref float orf = ref MemoryMarshal.GetArrayDataReference(o);
        for (int b = 0; b < stride; b += 8)
        {
            V s0 = V.Splat(0f), s1 = s0, s2 = s0, s3 = s0;
            int k = 0;
            for (; k + 4 <= n; k += 4)
            {
                s0 += V.Splat(Unsafe.Add(ref hr, k)) * V.Load(ref wr, k * stride + b);
                s1 += V.Splat(Unsafe.Add(ref hr, k + 1)) * V.Load(ref wr, (k + 1) * stride + b);
                s2 += V.Splat(Unsafe.Add(ref hr, k + 2)) * V.Load(ref wr, (k + 2) * stride + b);
                s3 += V.Splat(Unsafe.Add(ref hr, k + 3)) * V.Load(ref wr, (k + 3) * stride + b);
            }
            if (k < n) s0 += V.Splat(Unsafe.Add(ref hr, k)) * V.Load(ref wr, k * stride + b);
            if (k + 1 < n) s1 += V.Splat(Unsafe.Add(ref hr, k + 1)) * V.Load(ref wr, (k + 1) * stride + b);
            if (k + 2 < n) s2 += V.Splat(Unsafe.Add(ref hr, k + 2)) * V.Load(ref wr, (k + 2) * stride + b);
            V.Store((s0 + s1) + (s2 + s3) + V.Load(ref br, b), ref orf, b);
        }
    }

    /// <summary>y = out·std + mean (the output de-normalization), eight lanes at a time then scalar (the same
    /// operations). o: [≥ n], std, mean, y: [n].</summary>
    private static void Denormalize<V>(float[] o, float[] std, float[] mean, Span<float> y) where V : struct, ILanes8<V>
    {
        int n = y.Length, i = 0;
        ref float orf = ref MemoryMarshal.GetArrayDataReference(o);
        ref float sr = ref MemoryMarshal.GetArrayDataReference(std);
        ref float mr = ref MemoryMarshal.GetArrayDataReference(mean);
        ref float yr = ref MemoryMarshal.GetReference(y);
        for (; i + 8 <= n; i += 8) V.Store(V.Load(ref orf, i) * V.Load(ref sr, i) + V.Load(ref mr, i), ref yr, i);
        for (; i < n; i++) Unsafe.Add(ref yr, i) = Unsafe.Add(ref orf, i) * Unsafe.Add(ref sr, i) + Unsafe.Add(ref mr, i);
    }

    /// <summary>h's int8 copy about its range [lo, hi] over the H real units (h ≈ centre + scale·q; the padding units'
    /// bytes are never read). The epilogue reports the range of the h it wrote; a state set from outside measures it here.
    /// Min, max and the quantizer are exact operations, so every lane width gives the same bytes.</summary>
    private void QuantizeH(int l)
    {
        var (lo, hi) = Int8Quantize.MinMax(_h[l].AsSpan(0, Shape.HiddenSize));
        QuantizeH(l, lo, hi);
    }

    private void QuantizeH(int l, float lo, float hi)
    {
        if (!Int8Quantize.TryQuantizeCentred(_h[l].AsSpan(0, Shape.HiddenSize), lo, hi, out _hCentre[l], out _hScale[l], _hq[l]))
            throw new InvalidOperationException($"hidden state of layer {l} is not finite (ReLU RNN overflow?)");
    }

    /// <summary>
    /// One layer's float epilogue over blocks of 8 hidden units, generic over the lane width so x64 (one 256-bit vector)
    /// and ARM64 (two 128-bit vectors) run the same IEEE operations in the same order per unit. Gate-interleaved rows:
    /// block j's gate g is rows (j·G + g)·8 .. +7 of the accumulators, scales and biases. Each cell's part (Lstm, Gru with
    /// GruGate and GruOut, Rnn) sits beside that cell's float forward and backward in Cells/LstmCell.cs, GruCell.cs and
    /// ElmanCell.cs.
    /// </summary>
    private readonly ref partial struct Epilogue(Int8Weights.Layer layer, int[] accIh, int[] accHh, float sIn, float cIn, float sH, float cH,
                                         float[] h, float[] c, float[] scratch)
    {
        private readonly ref int _ai = ref MemoryMarshal.GetArrayDataReference(accIh);
        private readonly ref int _ah = ref MemoryMarshal.GetArrayDataReference(accHh);
        private readonly ref float _si = ref MemoryMarshal.GetArrayDataReference(layer.Sih);
        private readonly ref float _sh = ref MemoryMarshal.GetArrayDataReference(layer.Shh);
        private readonly ref float _b = ref MemoryMarshal.GetArrayDataReference(layer.Bias);
        private readonly ref float _ui = ref MemoryMarshal.GetArrayDataReference(layer.Uih);
        private readonly ref float _uh = ref MemoryMarshal.GetArrayDataReference(layer.Uhh);
        private readonly float[] _bhn = layer.Bhn;
        private readonly float _sIn = sIn, _cIn = cIn, _sH = sH, _cH = cH;
        private readonly float[] _hs = h, _cs = c;
        private readonly float[] _scratch = scratch;

        /// <summary>Unit blocks [0, unitBlocks); returns the new h's smallest and largest value over its
        /// <paramref name="units"/> real units (NaN for both if any is not finite), for its quantization.</summary>
        public (float Lo, float Hi) Run<V>(RnnArch arch, int unitBlocks, int units) where V : struct, ILanes8<V>
        {
            var range = HRange<V>.Empty;
            int tracked = arch switch
            {
                RnnArch.Lstm => Lstm(unitBlocks, units, ref range),
                RnnArch.Gru => Gru(unitBlocks, units, ref range),
                _ => Rnn(arch == RnnArch.RnnRelu, unitBlocks, units, ref range),
            };
            return range.Finish(ref MemoryMarshal.GetArrayDataReference(_hs), tracked, units);
        }

        /// <summary>
        /// The running range of the h the epilogue writes, in registers, so h needs no second pass before it is quantized.
        /// Each cell adds whole blocks of real units [0, tracked) as it stores them (blocks holding padding units are
        /// left out: their h is 0, which is not in the real units' range) and reports tracked; <see cref="Finish"/>
        /// reads the units from tracked to H back. min/max are exact, so the lanes' order does not matter (a zero's
        /// sign aside, which changes neither the centre nor the range); h·0 summed in <c>_poison</c> turns NaN on any
        /// infinite or NaN h, which min/max alone would not keep on every ISA.
        /// </summary>
        private struct HRange<V> where V : struct, ILanes8<V>
        {
            private V _lo, _hi, _poison;

            public static HRange<V> Empty => new() { _lo = V.Splat(float.PositiveInfinity), _hi = V.Splat(float.NegativeInfinity), _poison = V.Splat(0f) };

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public void Add(V h)
            {
                _lo = V.Min(_lo, h);
                _hi = V.Max(_hi, h);
                _poison += h * V.Splat(0f);
            }

            /// <param name="hr">h [≥ units]</param>
            /// <param name="tracked">units [0, tracked) went through <see cref="Add"/></param>
            public readonly (float Lo, float Hi) Finish(ref float hr, int tracked, int units)
            {
                // Plain comparisons after the lanes: the poison sum already flags NaN and infinity, so MathF.Min's NaN and
                // signed-zero handling is not needed.
                float lo = V.MinAcross(_lo), hi = V.MaxAcross(_hi);
                bool bad = float.IsNaN(V.Sum(_poison));
                for (int u = tracked; u < units; u++)
                {
                    float f = Unsafe.Add(ref hr, u);
                    bad |= !float.IsFinite(f);
                    lo = f < lo ? f : lo;
                    hi = f > hi ? f : hi;
                }
                return bad ? (float.NaN, float.NaN) : (lo, hi);
            }
        }

        /// <summary>acc_ih·(s_ih·s_x) + b + u_ih·c_x + acc_hh·(s_hh·s_h) + u_hh·c_h for the 8 rows at r (x ≈ c_x + s_x·q,
        /// h ≈ c_h + s_h·q).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static V Pre<V>(ref int ai, ref float si, ref float b, ref float ui, ref int ah, ref float sh, ref float uh, int r, V kx, V kh, V cx, V ch)
            where V : struct, ILanes8<V>
            => V.LoadInt(ref ai, r) * (V.Load(ref si, r) * kx) + V.Load(ref b, r) + V.Load(ref ui, r) * cx
               + (V.LoadInt(ref ah, r) * (V.Load(ref sh, r) * kh) + V.Load(ref uh, r) * ch);
    }

    public void Reset()
    {
        for (int l = 0; l < Shape.NumLayers; l++)
        {
            Array.Clear(_h[l]);
            Array.Clear(_c[l]);
            Array.Clear(_hq[l]);
        }
        Array.Clear(_hScale);
        Array.Clear(_hCentre);
    }

    /// <summary>Per layer: h [H], then c [H] for LSTM.</summary>
    public void GetState(Span<float> destination)
    {
        if (destination.Length < StateSize) throw new ArgumentException($"state needs {StateSize} floats", nameof(destination));
        int h = Shape.HiddenSize, o = 0;
        for (int l = 0; l < Shape.NumLayers; l++)
        {
            _h[l].AsSpan(0, h).CopyTo(destination[o..]);
            o += h;
            if (Shape.Arch != RnnArch.Lstm) continue;
            _c[l].AsSpan(0, h).CopyTo(destination[o..]);
            o += h;
        }
    }

    public void SetState(ReadOnlySpan<float> source)
    {
        if (source.Length != StateSize) throw new ArgumentException($"state has {source.Length} floats, expected {StateSize}", nameof(source));
        foreach (float f in source) if (!float.IsFinite(f)) throw new ArgumentException("state holds a non-finite value", nameof(source));
        int h = Shape.HiddenSize, o = 0;
        for (int l = 0; l < Shape.NumLayers; l++)
        {
            source.Slice(o, h).CopyTo(_h[l]);
            o += h;
            if (Shape.Arch == RnnArch.Lstm)
            {
                source.Slice(o, h).CopyTo(_c[l]);
                o += h;
            }
            QuantizeH(l);
        }
    }
}
