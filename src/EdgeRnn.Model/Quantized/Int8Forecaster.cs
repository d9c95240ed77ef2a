using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using EdgeRnn.Numerics;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Model.Quantized;

/// <summary>
/// The int8 streaming forecaster. Per layer and step: the input vector is quantized (layer 0: per-step dynamic scale
/// max|x|/127; deeper layers reuse the int8 h of the layer below), h goes in at the fixed scale 1/127 (it lies in
/// (-1, 1) for LSTM, GRU and tanh RNN; ReLU RNN uses a dynamic scale), two int8 products with int32 accumulators
/// (ih and hh kept apart because GRU's n gate needs r ⊙ (W_hn h + b_hn) and the two inputs have different scales),
/// then a float32 epilogue: acc_ih·(s_row·s_x) + acc_hh·(s_row·s_h) + bias, gates, cell state.
/// The epilogue uses only IEEE-exact operations in a fixed order, and the integer products are exact on every kernel
/// path, so x64 (AVX-512, AVX2) and ARM64 (NEON, SDOT) give identical outputs.
/// Weights are an immutable <see cref="Int8Weights"/> swapped atomically by <see cref="Requantize"/> (online
/// fine-tuning quantizes its float master again); each step reads the reference once. Step allocates nothing.
/// </summary>
public sealed class Int8Forecaster : IForecaster
{
    private Int8Weights _weights;
    private readonly Int8Kernels _k;
    private readonly float[] _state;     // per layer: h [H], then c [H] for LSTM
    private readonly float[] _x;         // [In] normalized input
    private readonly sbyte[] _xq;        // [InStride0]
    private readonly sbyte[][] _hq;      // per layer [HStride], zero padded
    private readonly float[] _hScale;    // per layer: the scale of _hq
    private readonly int[] _accIh, _accHh; // [G·H]
    private readonly float[] _pre;       // [G·H]
    private readonly float[] _tmp;       // [H] GRU scratch
    private readonly int[] _accO;        // [O]

    public ForecasterShape Shape { get; }
    public int StateSize => Shape.StateSize;
    public Int8Kernels Kernels => _k;
    public Int8Weights Weights => Volatile.Read(ref _weights);

    public Int8Forecaster(ForecasterParameters p) : this(p, Int8Kernels.Active) { }

    /// <param name="kernels">a forced kernel path (tests, benchmarks); the default is <see cref="Int8Kernels.Active"/></param>
    public Int8Forecaster(ForecasterParameters p, Int8Kernels kernels)
    {
        _weights = Int8Weights.Quantize(p);
        _k = kernels;
        var s = Shape = p.Shape;
        int h = s.HiddenSize, gh = s.Gates * h, hs = Int8Weights.Pad(h);
        _state = new float[s.StateSize];
        _x = new float[s.InputSize];
        _xq = new sbyte[Int8Weights.Pad(s.InputSize)];
        _hq = new sbyte[s.NumLayers][];
        for (int l = 0; l < s.NumLayers; l++) _hq[l] = new sbyte[hs];
        _hScale = new float[s.NumLayers];
        Array.Fill(_hScale, 1f / 127f);
        _accIh = new int[gh];
        _accHh = new int[gh];
        _pre = new float[gh];
        _tmp = new float[h];
        _accO = new int[s.OutputSize];
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
        int h = s.HiddenSize, gh = s.Gates * h;

        for (int i = 0; i < _x.Length; i++) _x[i] = (input[i] - w.InMean[i]) / w.InStd[i];
        float m = Int8Quantize.MaxAbs(_x);
        if (!float.IsFinite(m)) throw new ArgumentException("input holds a non-finite value (after normalization)", nameof(input));
        float sIn = m > 0 ? m / 127f : 1f / 127f;
        Int8Quantize.Quantize(_x, m > 0 ? 127f / m : 0f, _xq);
        ReadOnlySpan<sbyte> xq = _xq;

        for (int l = 0; l < s.NumLayers; l++)
        {
            var L = w.Layers[l];
            var hq = _hq[l];
            var hState = _state.AsSpan(LayerOffset(l), h);
            _k.MatVecPacked(L.Wih, xq[..L.InSize], _accIh);
            _k.MatVecPacked(L.Whh, hq.AsSpan(0, h), _accHh);
            float sH = _hScale[l];
            switch (s.Arch)
            {
                case RnnArch.Lstm:
                    Int8Quantize.ScaleBiasAdd(_accIh, L.Sih, sIn, L.Bias, _accHh, L.Shh, sH, _pre);
                    Activations.Tanh(_pre, _pre); // every gate in one pass; σ rows were pre-halved
                    LstmUpdate(_pre, _state.AsSpan(LayerOffset(l) + h, h), hState);
                    break;
                case RnnArch.Gru:
                    {
                        var pre = _pre.AsSpan();
                        Int8Quantize.ScaleBiasAdd(_accIh.AsSpan(0, 2 * h), L.Sih, sIn, L.Bias, _accHh, L.Shh, sH, pre[..(2 * h)]);
                        Int8Quantize.ScaleBias(_accIh.AsSpan(2 * h), L.Sih.AsSpan(2 * h), sIn, L.Bias.AsSpan(2 * h), pre[(2 * h)..]);
                        Int8Quantize.ScaleBias(_accHh.AsSpan(2 * h), L.Shh.AsSpan(2 * h), sH, L.Bhn, _tmp);
                        Activations.Tanh(pre[..(2 * h)], pre[..(2 * h)]);
                        GruUpdate(pre, _tmp, hState);
                        break;
                    }
                default:
                    Int8Quantize.ScaleBiasAdd(_accIh, L.Sih, sIn, L.Bias, _accHh, L.Shh, sH, _pre);
                    if (s.Arch == RnnArch.RnnTanh) Activations.Tanh(_pre, hState);
                    else for (int j = 0; j < h; j++) hState[j] = MathF.Max(_pre[j], 0f);
                    break;
            }
            QuantizeH(l, hState);
            xq = _hq[l];
            sIn = _hScale[l];
        }

        _k.MatVecPacked(w.HeadW, _hq[s.NumLayers - 1].AsSpan(0, h), _accO);
        var y = output[..s.OutputSize];
        Int8Quantize.ScaleBias(_accO, w.HeadScale, _hScale[s.NumLayers - 1], w.HeadBias, y);
        for (int o = 0; o < y.Length; o++) y[o] = y[o] * w.OutStd[o] + w.OutMean[o];
    }

    private int LayerOffset(int l) => l * Shape.HiddenSize * (Shape.Arch == RnnArch.Lstm ? 2 : 1);

    private void QuantizeH(int l, ReadOnlySpan<float> hState)
    {
        if (Shape.Arch == RnnArch.RnnRelu)
        {
            // ReLU h is unbounded: a per-step dynamic scale.
            float m = Int8Quantize.MaxAbs(hState);
            _hScale[l] = m > 0 && float.IsFinite(m) ? m / 127f : 1f / 127f;
            Int8Quantize.Quantize(hState, m > 0 && float.IsFinite(m) ? 127f / m : 0f, _hq[l]);
        }
        else
        {
            _hScale[l] = 1f / 127f;
            Int8Quantize.Quantize(hState, 127f, _hq[l]);
        }
    }

    /// <summary>
    /// t: [4H] tanh of the gate block (i, f, o pre-halved, so σ = 0.5·t + 0.5); c, h: [H] updated.
    /// c' = f·c + i·g, h' = o·tanh(c'), in one pass. Every width (256-bit, 128-bit, scalar tail) performs the same IEEE
    /// operations per unit in the same order (Activations.Tanh's vector and scalar forms are the same rational), so the
    /// bits do not depend on the CPU.
    /// </summary>
    private static void LstmUpdate(ReadOnlySpan<float> t, Span<float> c, Span<float> h)
    {
        int n = c.Length, j = 0;
        ref float tr = ref MemoryMarshal.GetReference(t);
        ref float cr = ref MemoryMarshal.GetReference(c);
        ref float hr = ref MemoryMarshal.GetReference(h);
        if (Vector256.IsHardwareAccelerated)
        {
            var half = Vector256.Create(0.5f);
            for (; j + 8 <= n; j += 8)
            {
                var i = half * Vector256.LoadUnsafe(ref tr, (nuint)j) + half;
                var f = half * Vector256.LoadUnsafe(ref tr, (nuint)(n + j)) + half;
                var g = Vector256.LoadUnsafe(ref tr, (nuint)(2 * n + j));
                var o = half * Vector256.LoadUnsafe(ref tr, (nuint)(3 * n + j)) + half;
                var cn = f * Vector256.LoadUnsafe(ref cr, (nuint)j) + i * g;
                cn.StoreUnsafe(ref cr, (nuint)j);
                (o * Activations.Tanh(cn)).StoreUnsafe(ref hr, (nuint)j);
            }
        }
        if (Vector128.IsHardwareAccelerated)
        {
            var half = Vector128.Create(0.5f);
            for (; j + 4 <= n; j += 4)
            {
                var i = half * Vector128.LoadUnsafe(ref tr, (nuint)j) + half;
                var f = half * Vector128.LoadUnsafe(ref tr, (nuint)(n + j)) + half;
                var g = Vector128.LoadUnsafe(ref tr, (nuint)(2 * n + j));
                var o = half * Vector128.LoadUnsafe(ref tr, (nuint)(3 * n + j)) + half;
                var cn = f * Vector128.LoadUnsafe(ref cr, (nuint)j) + i * g;
                cn.StoreUnsafe(ref cr, (nuint)j);
                (o * Activations.Tanh(cn)).StoreUnsafe(ref hr, (nuint)j);
            }
        }
        for (; j < n; j++)
        {
            float i = 0.5f * Unsafe.Add(ref tr, j) + 0.5f, f = 0.5f * Unsafe.Add(ref tr, n + j) + 0.5f, g = Unsafe.Add(ref tr, 2 * n + j);
            float o = 0.5f * Unsafe.Add(ref tr, 3 * n + j) + 0.5f;
            float cn = f * Unsafe.Add(ref cr, j) + i * g;
            Unsafe.Add(ref cr, j) = cn;
            Unsafe.Add(ref hr, j) = o * Activations.Tanh(cn);
        }
    }

    /// <summary>
    /// pre: [3H]: tanh of the halved r, z pre-activations, then W_in x + b_in; ghn: [H] W_hn h + b_hn; h: [H] updated.
    /// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h.
    /// </summary>
    private static void GruUpdate(Span<float> pre, ReadOnlySpan<float> ghn, Span<float> h)
    {
        int n = h.Length;
        var np = pre.Slice(2 * n, n);
        for (int j = 0; j < n; j++) np[j] = np[j] + (0.5f * pre[j] + 0.5f) * ghn[j];
        Activations.Tanh(np, np);
        for (int j = 0; j < n; j++)
        {
            float z = 0.5f * pre[n + j] + 0.5f;
            h[j] = (1f - z) * np[j] + z * h[j];
        }
    }

    public void Reset()
    {
        Array.Clear(_state);
        for (int l = 0; l < _hq.Length; l++) Array.Clear(_hq[l]);
        Array.Fill(_hScale, 1f / 127f);
    }

    public void GetState(Span<float> destination)
    {
        if (destination.Length < _state.Length) throw new ArgumentException($"state needs {_state.Length} floats", nameof(destination));
        _state.CopyTo(destination);
    }

    public void SetState(ReadOnlySpan<float> source)
    {
        if (source.Length != _state.Length) throw new ArgumentException($"state has {source.Length} floats, expected {_state.Length}", nameof(source));
        foreach (float f in source) if (!float.IsFinite(f)) throw new ArgumentException("state holds a non-finite value", nameof(source));
        source.CopyTo(_state);
        for (int l = 0; l < Shape.NumLayers; l++) QuantizeH(l, _state.AsSpan(LayerOffset(l), Shape.HiddenSize));
    }
}
