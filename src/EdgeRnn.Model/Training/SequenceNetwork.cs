using EdgeRnn.Model.Cells;
using EdgeRnn.Numerics;

namespace EdgeRnn.Model.Training;

/// <summary>
/// The forecaster's network for training: B independent sequences at once (matrix-matrix products), over a window of T
/// steps, on normalized values (the file's normalization is the caller's business). Forward keeps what backward needs;
/// <see cref="Backward"/> then back-propagates through that window (truncated BPTT: the incoming state is treated as a
/// constant, as after .detach() in PyTorch) and accumulates (+=) every parameter's gradient.
/// Reads the weights from the given <see cref="ForecasterParameters"/> arena at every Forward (its products pack a copy
/// per call, which costs one pass over the weights against T·B passes for the products), so an optimizer stepping that
/// arena is seen by the next Forward. Buffers grow to the largest B, T seen and are then reused. Not thread-safe.
/// </summary>
public sealed class SequenceNetwork
{
    private readonly ForecasterParameters _p;
    private int _batch, _steps, _capRows;
    private float[] _x = [];                 // [T*B, In] time-major inputs
    private float[][] _hs, _cs, _gates, _ghn; // per layer: [(T+1)*B, H], [(T+1)*B, H], [T*B, G*H], [T*B, H] (GRU ghn / LSTM tanh c)
    private float[] _y = [], _dy = [];       // [T*B, O] time-major
    private float[] _dhA = [], _dhB = [];    // [T*B, H] gradient reaching a layer's outputs
    private float[] _dPreIh = [], _dPreHh = []; // [T*B, G*H]
    private float[] _scratch = [], _dhRec = [], _dcRec = [], _dhTotal = []; // [B, G*H], [B, H] x3
    private bool _haveForward;
    private readonly int _lanes;             // packed products' lane count (0: this machine has no hand-written vectors)
    private readonly float[] _pack;          // [RecurrentLayer.PackSize] packed W_ih / W_hh of the layer being run
    private readonly float[] _packHead;      // [PackedRowsSize(O, H)] packed head

    public ForecasterParameters Parameters => _p;
    public ForecasterShape Shape => _p.Shape;

    public SequenceNetwork(ForecasterParameters parameters)
    {
        _p = parameters;
        int l = parameters.Shape.NumLayers;
        _hs = new float[l][]; _cs = new float[l][]; _gates = new float[l][]; _ghn = new float[l][];
        for (int i = 0; i < l; i++) { _hs[i] = []; _cs[i] = []; _gates[i] = []; _ghn[i] = []; }
        _lanes = FloatKernels.PackedLanes;
        _pack = new float[RecurrentLayer.PackSize(parameters.Shape, _lanes)];
        _packHead = _lanes == 0 ? [] : new float[FloatKernels.PackedRowsSize(parameters.Shape.OutputSize, parameters.Shape.HiddenSize, _lanes)];
    }

    private void Ensure(int batch, int steps)
    {
        var s = _p.Shape;
        int h = s.HiddenSize, gh = s.Gates * h;
        if (batch * steps > _capRows || batch * (steps + 1) > _hs[0].Length / h || batch * gh > _scratch.Length)
        {
            int rows = batch * steps;
            _capRows = rows;
            _x = new float[rows * s.InputSize];
            for (int l = 0; l < s.NumLayers; l++)
            {
                _hs[l] = new float[(rows + batch) * h];
                _cs[l] = s.Arch == RnnArch.Lstm ? new float[(rows + batch) * h] : [];
                _gates[l] = new float[rows * gh];
                _ghn[l] = s.Arch is RnnArch.Gru or RnnArch.Lstm ? new float[rows * h] : [];
            }
            _y = new float[rows * s.OutputSize];
            _dy = new float[rows * s.OutputSize];
            _dhA = new float[rows * h];
            _dhB = new float[rows * h];
            _dPreIh = new float[rows * gh];
            _dPreHh = s.Arch == RnnArch.Gru ? new float[rows * gh] : [];
            _scratch = new float[batch * gh];
            _dhRec = new float[batch * h];
            _dcRec = new float[batch * h];
            _dhTotal = new float[batch * h];
        }
    }

    /// <summary>
    /// Runs a window. state: per row the <see cref="IForecaster"/> layout (per layer h [H], then c [H] for LSTM).
    /// </summary>
    // inputs: [B, T, In] normalized; state: [B, StateSize] in: initial state, out: state after the window
    // outputs: [B, T, Out] normalized network outputs
    public void Forward(ReadOnlySpan<float> inputs, int batch, int steps, Span<float> state, Span<float> outputs)
    {
        var s = _p.Shape;
        int inSize = s.InputSize, h = s.HiddenSize, o = s.OutputSize, ss = s.StateSize;
        if (batch < 1 || steps < 1) throw new ArgumentOutOfRangeException(nameof(batch), "batch and steps must be >= 1");
        if (inputs.Length != batch * steps * inSize) throw new ArgumentException($"inputs has {inputs.Length} values, expected [{batch}, {steps}, {inSize}]");
        if (state.Length != batch * ss) throw new ArgumentException($"state has {state.Length} values, expected [{batch}, {ss}]");
        if (outputs.Length != batch * steps * o) throw new ArgumentException($"outputs has {outputs.Length} values, expected [{batch}, {steps}, {o}]");
        Ensure(batch, steps);
        _batch = batch; _steps = steps;
        bool lstm = s.Arch == RnnArch.Lstm;
        int stride = lstm ? 2 * h : h;

        // [B, T, In] → [T, B, In]: each step's rows are contiguous for the products.
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < steps; t++)
                inputs.Slice((b * steps + t) * inSize, inSize).CopyTo(_x.AsSpan((t * batch + b) * inSize, inSize));

        ReadOnlySpan<float> layerInput = _x;
        for (int l = 0; l < s.NumLayers; l++)
        {
            for (int b = 0; b < batch; b++)
            {
                state.Slice(b * ss + l * stride, h).CopyTo(_hs[l].AsSpan(b * h, h));
                if (lstm) state.Slice(b * ss + l * stride + h, h).CopyTo(_cs[l].AsSpan(b * h, h));
            }
            RecurrentLayer.Forward(_p, l, steps, batch, layerInput, _hs[l], _cs[l], _gates[l], _ghn[l], _scratch, _pack, _lanes);
            for (int b = 0; b < batch; b++)
            {
                _hs[l].AsSpan((steps * batch + b) * h, h).CopyTo(state.Slice(b * ss + l * stride, h));
                if (lstm) _cs[l].AsSpan((steps * batch + b) * h, h).CopyTo(state.Slice(b * ss + l * stride + h, h));
            }
            layerInput = _hs[l].AsSpan(batch * h, steps * batch * h);
        }

        // y = W_head h + b_head for all T*B rows at once
        int rows = steps * batch;
        if (_lanes == 0) FloatKernels.MatMulTransposed(_y.AsSpan(0, rows * o), layerInput, _p.HeadWeight, _p.HeadBias, rows, o, h);
        else
        {
            FloatKernels.PackRows(_packHead, _p.HeadWeight, _p.HeadBias, o, h, _lanes);
            FloatKernels.PackedMatMul(_y.AsSpan(0, rows * o), layerInput, _packHead, rows, o, h, _lanes);
        }
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < steps; t++)
                _y.AsSpan((t * batch + b) * o, o).CopyTo(outputs.Slice((b * steps + t) * o, o));
        _haveForward = true;
    }

    /// <summary>Back-propagates the last <see cref="Forward"/> window; grad must have this network's shape.</summary>
    // dOutputs: [B, T, Out] gradient of the loss with respect to the outputs of the last Forward
    public void Backward(ReadOnlySpan<float> dOutputs, ForecasterParameters grad)
    {
        if (!_haveForward) throw new InvalidOperationException("Backward needs a Forward first");
        var s = _p.Shape;
        if (grad.Shape != s) throw new ArgumentException("gradient arena shape differs from the network's", nameof(grad));
        int batch = _batch, steps = _steps, rows = batch * steps, h = s.HiddenSize, o = s.OutputSize;
        if (dOutputs.Length != rows * o) throw new ArgumentException($"dOutputs has {dOutputs.Length} values, expected [{batch}, {steps}, {o}]");
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < steps; t++)
                dOutputs.Slice((b * steps + t) * o, o).CopyTo(_dy.AsSpan((t * batch + b) * o, o));
        ReadOnlySpan<float> dy = _dy.AsSpan(0, rows * o);
        int top = s.NumLayers - 1;
        ReadOnlySpan<float> hTop = _hs[top].AsSpan(batch * h, rows * h);

        // y = W_head h + b_head
        FloatKernels.MatMulTransposedLeftAccumulate(grad.HeadWeight, dy, hTop, rows, o, h);
        FloatKernels.SumRowsAccumulate(grad.HeadBias, dy, rows, o);
        Span<float> dh = _dhA.AsSpan(0, rows * h), dhBelow = _dhB.AsSpan(0, rows * h);
        dh.Clear();
        FloatKernels.MatMulAccumulate(dh, dy, _p.HeadWeight, rows, o, h);

        for (int l = top; l >= 0; l--)
        {
            ReadOnlySpan<float> x = l == 0 ? _x.AsSpan(0, rows * s.InputSize) : _hs[l - 1].AsSpan(batch * h, rows * h);
            if (l > 0) dhBelow.Clear();
            RecurrentLayer.Backward(_p, grad, l, steps, batch, dh, l > 0 ? dhBelow : default,
                x, _hs[l], _cs[l], _gates[l], _ghn[l], _dPreIh, _dPreHh, _dhRec, _dcRec, _dhTotal);
            var swap = dh; dh = dhBelow; dhBelow = swap;
        }
    }
}
