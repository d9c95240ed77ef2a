using System.Numerics.Tensors;
using EdgeRnn.Model;

namespace EdgeRnn.Forecasting.Neural;

/// <summary>
/// Batched forward and backward of the stacked RNN + linear head over [T, B, I] sequences, in PyTorch's formulas and gate
/// order, reading weights from (and accumulating gradients into) <see cref="ForecasterParameters"/> arenas.
/// The network sees already-normalized inputs and produces normalized outputs; normalization is the caller's business.
/// Every sequence starts from the state held in step 0 of the caches (zero unless <see cref="SetInitialState"/>).
/// </summary>
public sealed class RecurrentNet
{
    public ForecasterShape Shape { get; }
    public int MaxSteps { get; }
    public int Batch { get; }
    private readonly int _h, _g;
    private readonly float[][] _hs;   // per layer [T+1, B, H]: h before step 0, after step 0, ...
    private readonly float[][] _cs;   // LSTM per layer [T+1, B, H]
    private readonly float[][] _act;  // per layer [T, B, G*H] post-activation gates (LSTM i,f,g,o; GRU r,z,n; RNN h)
    private readonly float[][] _hn;   // GRU per layer [T, B, H]: W_hn h + b_hn (r multiplies it)
    private readonly float[] _x;      // [T, B, I] copy of the inputs
    private readonly float[] _y;      // [T, B, O]
    private readonly float[] _dh, _dc, _dhNext, _da, _daH, _dxBuf; // scratch
    private readonly float[][] _dLayerOut; // per layer [T, B, H]: gradient reaching each layer's output from above
    private int _steps;

    public RecurrentNet(ForecasterShape shape, int maxSteps, int batch)
    {
        Shape = shape; MaxSteps = maxSteps; Batch = batch;
        _h = shape.HiddenSize; _g = shape.Gates;
        int L = shape.NumLayers;
        _hs = new float[L][]; _cs = new float[L][]; _act = new float[L][]; _hn = new float[L][]; _dLayerOut = new float[L][];
        for (int l = 0; l < L; l++)
        {
            _hs[l] = new float[(maxSteps + 1) * batch * _h];
            _cs[l] = shape.Arch == RnnArch.Lstm ? new float[(maxSteps + 1) * batch * _h] : [];
            _act[l] = new float[maxSteps * batch * _g * _h];
            _hn[l] = shape.Arch == RnnArch.Gru ? new float[maxSteps * batch * _h] : [];
            _dLayerOut[l] = new float[maxSteps * batch * _h];
        }
        _x = new float[maxSteps * batch * shape.InputSize];
        _y = new float[maxSteps * batch * shape.OutputSize];
        _dh = new float[_h]; _dc = new float[batch * _h]; _dhNext = new float[batch * _h];
        _da = new float[_g * _h]; _daH = new float[_g * _h];
        _dxBuf = new float[Math.Max(shape.InputSize, _h)];
    }

    /// <summary>Outputs of the last forward: [T, B, O].</summary>
    public ReadOnlySpan<float> Output => _y.AsSpan(0, _steps * Batch * Shape.OutputSize);

    /// <summary>state: per batch element b, per layer l: h [H], then for LSTM c [H] (the IForecaster state layout).</summary>
    public void SetInitialState(int b, ReadOnlySpan<float> state)
    {
        int o = 0;
        for (int l = 0; l < Shape.NumLayers; l++)
        {
            state.Slice(o, _h).CopyTo(_hs[l].AsSpan(b * _h, _h)); o += _h;
            if (Shape.Arch == RnnArch.Lstm) { state.Slice(o, _h).CopyTo(_cs[l].AsSpan(b * _h, _h)); o += _h; }
        }
    }

    public void ZeroInitialState()
    {
        for (int l = 0; l < Shape.NumLayers; l++)
        {
            _hs[l].AsSpan(0, Batch * _h).Clear();
            if (_cs[l].Length > 0) _cs[l].AsSpan(0, Batch * _h).Clear();
        }
    }

    /// <summary>The state after step <paramref name="t"/> (t = steps-1 for the final state) of batch element b.</summary>
    public void GetState(int t, int b, Span<float> state)
    {
        int o = 0;
        for (int l = 0; l < Shape.NumLayers; l++)
        {
            _hs[l].AsSpan(((t + 1) * Batch + b) * _h, _h).CopyTo(state.Slice(o, _h)); o += _h;
            if (Shape.Arch == RnnArch.Lstm) { _cs[l].AsSpan(((t + 1) * Batch + b) * _h, _h).CopyTo(state.Slice(o, _h)); o += _h; }
        }
    }

    /// <param name="x">[T, B, I] normalized inputs</param>
    public void Forward(ForecasterParameters p, ReadOnlySpan<float> x, int steps)
    {
        if (steps < 1 || steps > MaxSteps) throw new ArgumentOutOfRangeException(nameof(steps));
        _steps = steps;
        int B = Batch, H = _h, G = _g, I = Shape.InputSize, O = Shape.OutputSize;
        x.Slice(0, steps * B * I).CopyTo(_x);
        for (int l = 0; l < Shape.NumLayers; l++)
        {
            int inL = Shape.LayerInputSize(l);
            ReadOnlySpan<float> wih = p.WeightIh(l), whh = p.WeightHh(l), bih = p.BiasIh(l), bhh = p.BiasHh(l);
            for (int t = 0; t < steps; t++)
                for (int b = 0; b < B; b++)
                {
                    // [in_l]
                    ReadOnlySpan<float> xin = l == 0 ? _x.AsSpan((t * B + b) * I, I) : _hs[l - 1].AsSpan(((t + 1) * B + b) * H, H);
                    // [H]
                    ReadOnlySpan<float> hPrev = _hs[l].AsSpan((t * B + b) * H, H);
                    Span<float> hNew = _hs[l].AsSpan(((t + 1) * B + b) * H, H);
                    // [G*H]
                    Span<float> a = _act[l].AsSpan((t * B + b) * G * H, G * H);
                    switch (Shape.Arch)
                    {
                        case RnnArch.Lstm:
                        {
                            for (int r = 0; r < G * H; r++)
                                a[r] = TensorPrimitives.Dot(wih.Slice(r * inL, inL), xin) + bih[r] + TensorPrimitives.Dot(whh.Slice(r * H, H), hPrev) + bhh[r];
                            ReadOnlySpan<float> cPrev = _cs[l].AsSpan((t * B + b) * H, H);
                            Span<float> cNew = _cs[l].AsSpan(((t + 1) * B + b) * H, H);
                            for (int j = 0; j < H; j++)
                            {
                                float i = Sigmoid(a[j]), f = Sigmoid(a[H + j]), g = MathF.Tanh(a[2 * H + j]), o = Sigmoid(a[3 * H + j]);
                                a[j] = i; a[H + j] = f; a[2 * H + j] = g; a[3 * H + j] = o;
                                float c = f * cPrev[j] + i * g;
                                cNew[j] = c;
                                hNew[j] = o * MathF.Tanh(c);
                            }
                            break;
                        }
                        case RnnArch.Gru:
                        {
                            Span<float> hn = _hn[l].AsSpan((t * B + b) * H, H);
                            for (int r = 0; r < G * H; r++)
                            {
                                float gi = TensorPrimitives.Dot(wih.Slice(r * inL, inL), xin) + bih[r];
                                float gh = TensorPrimitives.Dot(whh.Slice(r * H, H), hPrev) + bhh[r];
                                if (r < 2 * H) a[r] = gi + gh;
                                else { a[r] = gi; hn[r - 2 * H] = gh; }
                            }
                            for (int j = 0; j < H; j++)
                            {
                                float rr = Sigmoid(a[j]), z = Sigmoid(a[H + j]);
                                float n = MathF.Tanh(a[2 * H + j] + rr * hn[j]);
                                a[j] = rr; a[H + j] = z; a[2 * H + j] = n;
                                hNew[j] = (1 - z) * n + z * hPrev[j];
                            }
                            break;
                        }
                        default:
                        {
                            bool relu = Shape.Arch == RnnArch.RnnRelu;
                            for (int r = 0; r < H; r++)
                            {
                                float s = TensorPrimitives.Dot(wih.Slice(r * inL, inL), xin) + bih[r] + TensorPrimitives.Dot(whh.Slice(r * H, H), hPrev) + bhh[r];
                                a[r] = relu ? MathF.Max(0, s) : MathF.Tanh(s);
                                hNew[r] = a[r];
                            }
                            break;
                        }
                    }
                }
        }
        // Head on the top layer: y = W h + b.
        ReadOnlySpan<float> hw = p.HeadWeight, hb = p.HeadBias;
        float[] top = _hs[Shape.NumLayers - 1];
        for (int t = 0; t < steps; t++)
            for (int b = 0; b < B; b++)
            {
                ReadOnlySpan<float> h = top.AsSpan(((t + 1) * B + b) * H, H);
                Span<float> y = _y.AsSpan((t * B + b) * O, O);
                for (int o = 0; o < O; o++) y[o] = TensorPrimitives.Dot(hw.Slice(o * H, H), h) + hb[o];
            }
    }

    /// <summary>Accumulates (+=) into <paramref name="grad"/> the gradient of Σ dy·y for the last forward. dy: [T, B, O].</summary>
    public void Backward(ForecasterParameters p, ForecasterParameters grad, ReadOnlySpan<float> dy)
    {
        int steps = _steps, B = Batch, H = _h, G = _g, O = Shape.OutputSize, Ltop = Shape.NumLayers - 1;
        // y = W h + b  →  dW += dy hᵀ, db += dy, dh = Wᵀ dy
        ReadOnlySpan<float> hw = p.HeadWeight;
        Span<float> dhw = grad.HeadWeight, dhb = grad.HeadBias;
        float[] top = _hs[Ltop];
        Span<float> dTop = _dLayerOut[Ltop].AsSpan(0, steps * B * H);
        dTop.Clear();
        for (int t = 0; t < steps; t++)
            for (int b = 0; b < B; b++)
            {
                ReadOnlySpan<float> h = top.AsSpan(((t + 1) * B + b) * H, H);
                ReadOnlySpan<float> d = dy.Slice((t * B + b) * O, O);
                Span<float> dh = dTop.Slice((t * B + b) * H, H);
                for (int o = 0; o < O; o++)
                {
                    float g = d[o];
                    if (g == 0) continue;
                    dhb[o] += g;
                    TensorPrimitives.MultiplyAdd(h, g, dhw.Slice(o * H, H), dhw.Slice(o * H, H));
                    TensorPrimitives.MultiplyAdd(hw.Slice(o * H, H), g, dh, dh);
                }
            }

        for (int l = Ltop; l >= 0; l--)
        {
            int inL = Shape.LayerInputSize(l);
            ReadOnlySpan<float> wih = p.WeightIh(l), whh = p.WeightHh(l);
            Span<float> dwih = grad.WeightIh(l), dwhh = grad.WeightHh(l), dbih = grad.BiasIh(l), dbhh = grad.BiasHh(l);
            Span<float> dBelow = l > 0 ? _dLayerOut[l - 1].AsSpan(0, steps * B * H) : default;
            if (l > 0) dBelow.Clear();
            _dhNext.AsSpan().Clear();
            _dc.AsSpan().Clear();
            for (int t = steps - 1; t >= 0; t--)
                for (int b = 0; b < B; b++)
                {
                    // dh = gradient from above at this step + from step t+1 through h
                    Span<float> dh = _dh;
                    TensorPrimitives.Add(_dLayerOut[l].AsSpan((t * B + b) * H, H), _dhNext.AsSpan(b * H, H), dh);
                    ReadOnlySpan<float> hPrev = _hs[l].AsSpan((t * B + b) * H, H);
                    ReadOnlySpan<float> a = _act[l].AsSpan((t * B + b) * G * H, G * H);
                    ReadOnlySpan<float> xin = l == 0 ? _x.AsSpan((t * B + b) * inL, inL) : _hs[l - 1].AsSpan(((t + 1) * B + b) * H, H);
                    Span<float> dhPrev = _dhNext.AsSpan(b * H, H);
                    Span<float> da = _da, daH = _daH;
                    switch (Shape.Arch)
                    {
                        case RnnArch.Lstm:
                        {
                            // c = f c_prev + i g ; h = o tanh(c)
                            ReadOnlySpan<float> cPrev = _cs[l].AsSpan((t * B + b) * H, H);
                            ReadOnlySpan<float> cCur = _cs[l].AsSpan(((t + 1) * B + b) * H, H);
                            Span<float> dc = _dc.AsSpan(b * H, H);
                            for (int j = 0; j < H; j++)
                            {
                                float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
                                float tc = MathF.Tanh(cCur[j]);
                                float dcj = dc[j] + dh[j] * o * (1 - tc * tc);
                                da[j] = dcj * g * i * (1 - i);
                                da[H + j] = dcj * cPrev[j] * f * (1 - f);
                                da[2 * H + j] = dcj * i * (1 - g * g);
                                da[3 * H + j] = dh[j] * tc * o * (1 - o);
                                dc[j] = dcj * f;
                            }
                            da.CopyTo(daH);
                            dhPrev.Clear();
                            break;
                        }
                        case RnnArch.Gru:
                        {
                            // h = (1-z) n + z h_prev ; n = tanh(a_n + r hn)
                            ReadOnlySpan<float> hn = _hn[l].AsSpan((t * B + b) * H, H);
                            for (int j = 0; j < H; j++)
                            {
                                float r = a[j], z = a[H + j], n = a[2 * H + j];
                                float dn = dh[j] * (1 - z);
                                float dz = dh[j] * (hPrev[j] - n);
                                float dan = dn * (1 - n * n);
                                float dr = dan * hn[j];
                                da[j] = dr * r * (1 - r);
                                da[H + j] = dz * z * (1 - z);
                                da[2 * H + j] = dan;
                                daH[j] = da[j]; daH[H + j] = da[H + j]; daH[2 * H + j] = dan * r;
                                dhPrev[j] = dh[j] * z;
                            }
                            break;
                        }
                        default:
                        {
                            bool relu = Shape.Arch == RnnArch.RnnRelu;
                            for (int j = 0; j < H; j++) da[j] = relu ? (a[j] > 0 ? dh[j] : 0) : dh[j] * (1 - a[j] * a[j]);
                            da.CopyTo(daH);
                            dhPrev.Clear();
                            break;
                        }
                    }
                    // pre-activations = W_ih x + b_ih + W_hh h_prev + b_hh
                    TensorPrimitives.Add(dbih, da, dbih);
                    TensorPrimitives.Add(dbhh, daH, dbhh);
                    Span<float> dx = l > 0 ? dBelow.Slice((t * B + b) * H, H) : default;
                    for (int r = 0; r < G * H; r++)
                    {
                        float gi = da[r], gh = daH[r];
                        if (gi != 0)
                        {
                            TensorPrimitives.MultiplyAdd(xin, gi, dwih.Slice(r * inL, inL), dwih.Slice(r * inL, inL));
                            if (l > 0) TensorPrimitives.MultiplyAdd(wih.Slice(r * inL, inL), gi, dx, dx);
                        }
                        if (gh != 0)
                        {
                            TensorPrimitives.MultiplyAdd(hPrev, gh, dwhh.Slice(r * H, H), dwhh.Slice(r * H, H));
                            TensorPrimitives.MultiplyAdd(whh.Slice(r * H, H), gh, dhPrev, dhPrev);
                        }
                    }
                }
        }
    }

    private static float Sigmoid(float v) => 1f / (1f + MathF.Exp(-v));
}
