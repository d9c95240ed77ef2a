using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using EdgeRnn.Numerics;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Model.Quantized;

/// <summary>
/// The int8 streaming forecaster. Per layer and step: the input vector is quantized (layer 0: per-step dynamic scale
/// max|x|/127; deeper layers reuse the int8 h of the layer below), h goes in at the fixed scale 1/127 (it lies in
/// (-1, 1) for LSTM, GRU and tanh RNN; ReLU RNN uses a dynamic scale), two int8 products with int32 accumulators over
/// the gate-interleaved weights (ih and hh kept apart because GRU's n gate needs r ⊙ (W_hn h + b_hn) and the two
/// inputs have different scales), then one fused float32 epilogue over blocks of 8 hidden units (all G gates of a
/// block side by side): acc_ih·(s_row·s_x) + bias + acc_hh·(s_row·s_h), every gate's activation, the cell update, the
/// new h and its int8 copy for the next product, with no pass over the whole accumulator array in between.
/// The epilogue uses only IEEE-exact operations in a fixed order, and the integer products are exact on every kernel
/// path, so x64 (AVX-512, AVX2) and ARM64 (NEON, SDOT) give identical outputs.
/// Weights are an immutable <see cref="Int8Weights"/> swapped atomically by <see cref="Requantize"/> (online
/// fine-tuning quantizes its float master again); each step reads the reference once. Step allocates nothing.
/// </summary>
public sealed class Int8Forecaster : IForecaster
{
    private Int8Weights _weights;
    private readonly Int8Kernels _k;
    private readonly float[][] _h, _c;   // per layer [UB·8] (c: LSTM only); padding units stay 0
    private readonly float[] _x;         // [In] normalized input
    private readonly sbyte[] _xq;        // [In]
    private readonly sbyte[][] _hq;      // per layer [UB·8]: the int8 h the next step reads
    private readonly int[] _qh, _qx;     // the layer's h and input as prepared quads (Int8Kernels.PrepareQuads)
    private readonly float[] _hScale;    // per layer: the scale of _hq
    private readonly int[] _accIh, _accHh; // [UB·G·8]
    private readonly int[] _accO;        // [O]
    private readonly float[] _shk;       // [UB·G·8] ReLU RNN: s_hh·s_h of the step
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
        Array.Fill(_hScale, 1f / 127f);
        _accIh = new int[rows];
        _accHh = new int[rows];
        _accO = new int[s.OutputSize];
        _shk = s.Arch == RnnArch.RnnRelu ? new float[rows] : [];
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
            case EpilogueLanes.Vector256 when Vector256.IsHardwareAccelerated: Step<Lanes256>(w, input, output[..s.OutputSize]); break;
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
        float m = NormalizeInput<V>(input, w.InMean, w.InStd, _x);
        if (!float.IsFinite(m)) throw new ArgumentException("input holds a non-finite value (after normalization)", nameof(input));
        float sIn = m > 0 ? m / 127f : 1f / 127f;
        Int8Quantize.Quantize(_x, m > 0 ? 127f / m : 0f, _xq);
        ReadOnlySpan<sbyte> xq = _xq;

        for (int l = 0; l < s.NumLayers; l++)
        {
            var L = w.Layers[l];
            float[] shk = L.ShhK;
            if (s.Arch == RnnArch.RnnRelu)
            {
                // ReLU's h scale changes every step, so s_hh·s_h is formed here rather than once at load.
                shk = _shk;
                for (int r = 0; r < shk.Length; r++) shk[r] = L.Shh[r] * _hScale[l];
            }
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
            new Epilogue(L, _accIh, _accHh, sIn, shk, _h[l], _c[l], _hq[l], _scratch).Run<V>(s.Arch, w.UnitBlocks);
            if (s.Arch == RnnArch.RnnRelu) QuantizeH(l);
            xq = _hq[l].AsSpan(0, h);
            sIn = _hScale[l];
        }

        _k.MatVecPacked(w.HeadW, _hq[s.NumLayers - 1].AsSpan(0, h), _accO);
        Output<V>(_accO, w.HeadScale, _hScale[s.NumLayers - 1], w.HeadBias, w.OutStd, w.OutMean, y);
    }

    /// <summary>x = (input - mean) / std, eight lanes at a time then scalar (the same operations); returns max|x| (NaN
    /// if any x is NaN).</summary>
    private static float NormalizeInput<V>(ReadOnlySpan<float> input, float[] mean, float[] std, float[] x) where V : struct, ILanes8<V>
    {
        int n = x.Length, i = 0;
        ref float ir = ref MemoryMarshal.GetReference(input);
        ref float mr = ref MemoryMarshal.GetArrayDataReference(mean);
        ref float sr = ref MemoryMarshal.GetArrayDataReference(std);
        ref float xr = ref MemoryMarshal.GetArrayDataReference(x);
        for (; i + 8 <= n; i += 8) V.Store((V.Load(ref ir, i) - V.Load(ref mr, i)) / V.Load(ref sr, i), ref xr, i);
        for (; i < n; i++) Unsafe.Add(ref xr, i) = (Unsafe.Add(ref ir, i) - Unsafe.Add(ref mr, i)) / Unsafe.Add(ref sr, i);
        return Int8Quantize.MaxAbs(x);
    }

    /// <summary>y = (acc·(s·k) + b)·std + mean: the head's dequantization and the output de-normalization in one pass.</summary>
    private static void Output<V>(int[] acc, float[] scale, float k, float[] bias, float[] std, float[] mean, Span<float> y) where V : struct, ILanes8<V>
    {
        int n = y.Length, o = 0;
        ref int ar = ref MemoryMarshal.GetArrayDataReference(acc);
        ref float sr = ref MemoryMarshal.GetArrayDataReference(scale);
        ref float br = ref MemoryMarshal.GetArrayDataReference(bias);
        ref float dr = ref MemoryMarshal.GetArrayDataReference(std);
        ref float mr = ref MemoryMarshal.GetArrayDataReference(mean);
        ref float yr = ref MemoryMarshal.GetReference(y);
        V kv = V.Splat(k);
        for (; o + 8 <= n; o += 8)
            V.Store((V.LoadInt(ref ar, o) * (V.Load(ref sr, o) * kv) + V.Load(ref br, o)) * V.Load(ref dr, o) + V.Load(ref mr, o), ref yr, o);
        for (; o < n; o++)
            Unsafe.Add(ref yr, o) = ((float)Unsafe.Add(ref ar, o) * (Unsafe.Add(ref sr, o) * k) + Unsafe.Add(ref br, o)) * Unsafe.Add(ref dr, o) + Unsafe.Add(ref mr, o);
    }

    /// <summary>ReLU h is unbounded: its int8 copy takes a per-step dynamic scale (the epilogue stored h only).</summary>
    private void QuantizeH(int l)
    {
        if (Shape.Arch != RnnArch.RnnRelu)
        {
            _hScale[l] = 1f / 127f;
            Int8Quantize.Quantize(_h[l], 127f, _hq[l]);
            return;
        }
        float m = Int8Quantize.MaxAbs(_h[l]);
        bool ok = m > 0 && float.IsFinite(m);
        _hScale[l] = ok ? m / 127f : 1f / 127f;
        Int8Quantize.Quantize(_h[l], ok ? 127f / m : 0f, _hq[l]);
    }

    /// <summary>
    /// One layer's float epilogue over blocks of 8 hidden units, generic over the lane width so x64 (one 256-bit vector)
    /// and ARM64 (two 128-bit vectors) run the same IEEE operations in the same order per unit. Gate-interleaved rows:
    /// block j's gate g is rows (j·G + g)·8 .. +7 of the accumulators, scales and biases.
    /// </summary>
    private readonly ref struct Epilogue(Int8Weights.Layer layer, int[] accIh, int[] accHh, float sIn, float[] shk,
                                         float[] h, float[] c, sbyte[] hq, float[] scratch)
    {
        private readonly ref int _ai = ref MemoryMarshal.GetArrayDataReference(accIh);
        private readonly ref int _ah = ref MemoryMarshal.GetArrayDataReference(accHh);
        private readonly ref float _si = ref MemoryMarshal.GetArrayDataReference(layer.Sih);
        private readonly ref float _sh = ref MemoryMarshal.GetArrayDataReference(shk);
        private readonly ref float _b = ref MemoryMarshal.GetArrayDataReference(layer.Bias);
        private readonly float[] _bhn = layer.Bhn;
        private readonly float _sIn = sIn;
        private readonly float[] _hs = h, _cs = c;
        private readonly sbyte[] _hq = hq;
        private readonly float[] _scratch = scratch;

        /// <summary>Unit blocks [0, unitBlocks).</summary>
        public void Run<V>(RnnArch arch, int unitBlocks) where V : struct, ILanes8<V>
        {
            switch (arch)
            {
                case RnnArch.Lstm: Lstm<V>(unitBlocks); break;
                case RnnArch.Gru: Gru<V>(unitBlocks); break;
                default: Rnn<V>(arch == RnnArch.RnnRelu, unitBlocks); break;
            }
        }

        /// <summary>acc_ih·(s_ih·s_x) + b + acc_hh·(s_hh·s_h) for the 8 rows at r; sh holds s_hh·s_h.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static V Pre<V>(ref int ai, ref float si, ref float b, ref int ah, ref float sh, int r, V kx) where V : struct, ILanes8<V>
            => V.LoadInt(ref ai, r) * (V.Load(ref si, r) * kx) + V.Load(ref b, r) + V.LoadInt(ref ah, r) * V.Load(ref sh, r);

        /// <summary>i, f, o pre-halved, so σ = 0.5·tanh + 0.5; c' = f·c + i·g, h' = o·tanh(c').</summary>
        private void Lstm<V>(int end) where V : struct, ILanes8<V>
        {
            V kx = V.Splat(_sIn), half = V.Splat(0.5f), q = V.Splat(127f);
            ref int ai = ref _ai, ah = ref _ah;
            ref float si = ref _si, sh = ref _sh, b = ref _b;
            ref float hr = ref MemoryMarshal.GetArrayDataReference(_hs);
            ref float cr = ref MemoryMarshal.GetArrayDataReference(_cs);
            ref sbyte qr = ref MemoryMarshal.GetArrayDataReference(_hq);
            // Two passes over independent blocks, each evaluating four tanh chains side by side (Tanh4), so the
            // out-of-order core always has independent work. Pass 1 parks o in h (the old h is not needed: the products
            // read its int8 copy).
            for (int j = 0, u = 0, r = 0; j < end; j++, u += 8, r += 32)
            {
                V i = Pre(ref ai, ref si, ref b, ref ah, ref sh, r, kx);
                V f = Pre(ref ai, ref si, ref b, ref ah, ref sh, r + 8, kx);
                V g = Pre(ref ai, ref si, ref b, ref ah, ref sh, r + 16, kx);
                V o = Pre(ref ai, ref si, ref b, ref ah, ref sh, r + 24, kx);
                Activations.Tanh4(ref i, ref f, ref g, ref o);
                V.Store((half * f + half) * V.Load(ref cr, u) + (half * i + half) * g, ref cr, u);
                V.Store(half * o + half, ref hr, u);
            }
            int n = 8 * end, k = 0;
            for (; k + 32 <= n; k += 32)
            {
                V t0 = V.Load(ref cr, k), t1 = V.Load(ref cr, k + 8), t2 = V.Load(ref cr, k + 16), t3 = V.Load(ref cr, k + 24);
                Activations.Tanh4(ref t0, ref t1, ref t2, ref t3);
                HOut(V.Load(ref hr, k) * t0, ref hr, ref qr, k, q);
                HOut(V.Load(ref hr, k + 8) * t1, ref hr, ref qr, k + 8, q);
                HOut(V.Load(ref hr, k + 16) * t2, ref hr, ref qr, k + 16, q);
                HOut(V.Load(ref hr, k + 24) * t3, ref hr, ref qr, k + 24, q);
            }
            for (; k < n; k += 8) HOut(V.Load(ref hr, k) * Activations.Tanh(V.Load(ref cr, k)), ref hr, ref qr, k, q);
        }

        /// <summary>Store 8 units of the new h and their int8 copy (scale 1/127).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void HOut<V>(V hn, ref float hr, ref sbyte qr, int u, V q) where V : struct, ILanes8<V>
        {
            V.Store(hn, ref hr, u);
            V.StoreInt8(hn, q, ref qr, u);
        }

        /// <summary>r, z pre-halved; n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h.</summary>
        private void Gru<V>(int end) where V : struct, ILanes8<V>
        {
            V kx = V.Splat(_sIn), half = V.Splat(0.5f), one = V.Splat(1f), q = V.Splat(127f);
            ref int ai = ref _ai, ah = ref _ah;
            ref float si = ref _si, sh = ref _sh, b = ref _b;
            ref float hr = ref MemoryMarshal.GetArrayDataReference(_hs);
            ref float bhn = ref MemoryMarshal.GetArrayDataReference(_bhn);
            ref sbyte qr = ref MemoryMarshal.GetArrayDataReference(_hq);
            ref float zs = ref MemoryMarshal.GetArrayDataReference(_scratch);
            int n8 = 8 * end;
            ref float ns = ref Unsafe.Add(ref zs, n8);
            // Pass 1: r and z of two blocks at a time through Tanh4, then n's pre-activation; z and it wait in scratch.
            // Pass 2: n = tanh of four blocks at a time, then h'. The same operations per unit as one pass, so the same
            // bits, but with independent chains side by side.
            int j = 0;
            for (; j + 2 <= end; j += 2)
            {
                int u = 8 * j, r = 24 * j;
                V r0 = Pre(ref ai, ref si, ref b, ref ah, ref sh, r, kx), z0 = Pre(ref ai, ref si, ref b, ref ah, ref sh, r + 8, kx);
                V r1 = Pre(ref ai, ref si, ref b, ref ah, ref sh, r + 24, kx), z1 = Pre(ref ai, ref si, ref b, ref ah, ref sh, r + 32, kx);
                Activations.Tanh4(ref r0, ref z0, ref r1, ref z1);
                GruGate(ref ai, ref si, ref b, ref ah, ref sh, ref bhn, ref zs, ref ns, r, u, kx, half, r0, z0);
                GruGate(ref ai, ref si, ref b, ref ah, ref sh, ref bhn, ref zs, ref ns, r + 24, u + 8, kx, half, r1, z1);
            }
            if (j < end)
            {
                int u = 8 * j, r = 24 * j;
                V tr = Activations.Tanh(Pre(ref ai, ref si, ref b, ref ah, ref sh, r, kx));
                V tz = Activations.Tanh(Pre(ref ai, ref si, ref b, ref ah, ref sh, r + 8, kx));
                GruGate(ref ai, ref si, ref b, ref ah, ref sh, ref bhn, ref zs, ref ns, r, u, kx, half, tr, tz);
            }
            int k = 0;
            for (; k + 32 <= n8; k += 32)
            {
                V t0 = V.Load(ref ns, k), t1 = V.Load(ref ns, k + 8), t2 = V.Load(ref ns, k + 16), t3 = V.Load(ref ns, k + 24);
                Activations.Tanh4(ref t0, ref t1, ref t2, ref t3);
                GruOut(t0, ref zs, ref hr, ref qr, k, one, q);
                GruOut(t1, ref zs, ref hr, ref qr, k + 8, one, q);
                GruOut(t2, ref zs, ref hr, ref qr, k + 16, one, q);
                GruOut(t3, ref zs, ref hr, ref qr, k + 24, one, q);
            }
            for (; k < n8; k += 8) GruOut(Activations.Tanh(V.Load(ref ns, k)), ref zs, ref hr, ref qr, k, one, q);
        }

        /// <summary>z = σ, and n's pre-activation W_in x + b_in + r ⊙ (W_hn h + b_hn), for the block at rows r, units u.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void GruGate<V>(ref int ai, ref float si, ref float b, ref int ah, ref float sh, ref float bhn, ref float zs, ref float ns,
                                       int r, int u, V kx, V half, V tr, V tz) where V : struct, ILanes8<V>
        {
            V inx = V.LoadInt(ref ai, r + 16) * (V.Load(ref si, r + 16) * kx) + V.Load(ref b, r + 16);
            V ghn = V.LoadInt(ref ah, r + 16) * V.Load(ref sh, r + 16) + V.Load(ref bhn, u);
            V.Store(inx + (half * tr + half) * ghn, ref ns, u);
            V.Store(half * tz + half, ref zs, u);
        }

        /// <summary>h' = (1 - z) ⊙ n + z ⊙ h for 8 units, and its int8 copy.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void GruOut<V>(V n, ref float zs, ref float hr, ref sbyte qr, int u, V one, V q) where V : struct, ILanes8<V>
        {
            V z = V.Load(ref zs, u);
            V hn = (one - z) * n + z * V.Load(ref hr, u);
            V.Store(hn, ref hr, u);
            V.StoreInt8(hn, q, ref qr, u);
        }

        /// <summary>h' = tanh(pre) or max(pre, 0); ReLU's int8 copy needs the step's max, so the caller quantizes it.</summary>
        private void Rnn<V>(bool relu, int end) where V : struct, ILanes8<V>
        {
            V kx = V.Splat(_sIn), zero = V.Splat(0f), q = V.Splat(127f);
            ref int ai = ref _ai, ah = ref _ah;
            ref float si = ref _si, sh = ref _sh, b = ref _b;
            ref float hr = ref MemoryMarshal.GetArrayDataReference(_hs);
            ref sbyte qr = ref MemoryMarshal.GetArrayDataReference(_hq);
            for (int u = 0; u < 8 * end; u += 8)
            {
                V pre = Pre(ref ai, ref si, ref b, ref ah, ref sh, u, kx);
                if (relu) V.Store(V.Max(pre, zero), ref hr, u);
                else
                {
                    V hn = Activations.Tanh(pre);
                    V.Store(hn, ref hr, u);
                    V.StoreInt8(hn, q, ref qr, u);
                }
            }
        }
    }

    public void Reset()
    {
        for (int l = 0; l < Shape.NumLayers; l++)
        {
            Array.Clear(_h[l]);
            Array.Clear(_c[l]);
            Array.Clear(_hq[l]);
        }
        Array.Fill(_hScale, 1f / 127f);
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
