using System.Numerics.Tensors;
using EdgeRnn.Model.Cells;
using EdgeRnn.Numerics;

[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("EdgeRnn.Model.Tests")]

namespace EdgeRnn.Model;

/// <summary>
/// The float32 streaming forecaster: PyTorch's LSTM / GRU / RNN cells, stacked, with a linear head.
/// Where the machine has 256- or 128-bit vectors it steps a packed copy of the weights (<see cref="PackedStep"/>: one
/// fused product over [x; h] per layer and the cell's pointwise part per block of units); otherwise it runs the
/// training code (<see cref="RecurrentLayer"/> at T = 1, B = 1) on the arena directly, the reference the packed path is
/// tested against. The packed copy follows the arena: each step compares <see cref="ForecasterParameters.Version"/>
/// with the version it packed and repacks (allocation-free) when it moved, so a learner that updates the arena in place
/// and calls <see cref="ForecasterParameters.MarkChanged"/> (the optimizers do) is seen at the next step.
/// The file's normalization arrays are copied at construction.
/// Not thread-safe: one thread steps it, and the arena must not be written while a step runs (a learner should train a
/// copy and swap in a new forecaster, or update the arena between steps on the same thread).
/// All buffers are allocated in the constructor; <see cref="Step"/> allocates nothing.
/// </summary>
public sealed class FloatForecaster : IForecaster
{
    private readonly ForecasterParameters _p;
    // The reference path's buffers (empty when the packed path runs: it keeps its own state and input).
    private readonly float[] _state;    // per layer: h [H], then c [H] for LSTM
    private readonly float[] _x;        // [In] normalized input
    private readonly float[] _hs;       // [2H] h before / after the step
    private readonly float[] _cs;       // [2H] c before / after (LSTM)
    private readonly float[] _gates;    // [G*H]
    private readonly float[] _ghn;      // [H] (GRU's W_hn h + b_hn, LSTM's tanh c)
    private readonly float[] _scratch;  // [G*H]
    private readonly float[]? _inMean, _inStd, _outMean, _outStd;
    private readonly bool _softmax;     // metadata output_activation = softmax
    private readonly PackedStep? _packed; // the fast path (null: no hand-written vector path on this machine)
    private long _packedVersion;

    public ForecasterParameters Parameters => _p;
    public ForecasterShape Shape => _p.Shape;
    public int StateSize => _p.Shape.StateSize;

    public FloatForecaster(ForecasterParameters parameters) : this(parameters, PackedStep.MachineLanes) { }

    /// <summary>lanes: 8 or 4 for the packed path at that width, 0 for the reference path (tests run all three).</summary>
    internal FloatForecaster(ForecasterParameters parameters, int lanes)
    {
        _p = parameters;
        var s = parameters.Shape;
        bool reference = lanes == 0;
        int h = reference ? s.HiddenSize : 0, gh = s.Gates * h;
        _state = reference ? new float[s.StateSize] : [];
        _x = reference ? new float[s.InputSize] : [];
        _hs = new float[2 * h];
        _cs = new float[2 * h];
        _gates = new float[gh];
        _ghn = new float[h];
        _scratch = new float[gh];
        _inMean = Check(parameters.InputMean, s.InputSize, "InputMean");
        // Kept as a division by std, as the reference writes (x - mean) / std, not a product by a reciprocal.
        _inStd = Check(parameters.InputStd, s.InputSize, "InputStd");
        _outMean = Check(parameters.OutputMean, s.OutputSize, "OutputMean");
        _outStd = Check(parameters.OutputStd, s.OutputSize, "OutputStd");
        _softmax = OutputHead.Activation(parameters) == OutputActivation.Softmax;
        if (lanes > 0)
        {
            _packedVersion = parameters.Version;
            _packed = new PackedStep(parameters, lanes);
        }
    }

    private static float[]? Check(float[]? v, int length, string name)
    {
        if (v is null) return null;
        if (v.Length != length) throw new ArgumentException($"{name} has {v.Length} values, expected {length}");
        return (float[])v.Clone();
    }

    /// <summary>One step. input: [InputSize] raw units; output: [OutputSize] raw units (probabilities for a softmax file).</summary>
    public void Step(ReadOnlySpan<float> input, Span<float> output)
    {
        var s = _p.Shape;
        if (input.Length != s.InputSize) throw new ArgumentException($"input has {input.Length} values, expected {s.InputSize}", nameof(input));
        if (output.Length != s.OutputSize) throw new ArgumentException($"output has {output.Length} values, expected {s.OutputSize}", nameof(output));
        if (_packed is not null)
        {
            if (_p.Version != _packedVersion) { _packed.Pack(); _packedVersion = _p.Version; }
            Normalize(input, _packed.Input);
            _packed.Step(output);
        }
        else
        {
            Normalize(input, _x);
            StepReference(output);
        }
        // y = head output · std + mean (raw units)
        if (_outStd is not null) TensorPrimitives.Multiply(output, _outStd, output);
        if (_outMean is not null) TensorPrimitives.Add(output, _outMean, output);
        if (_softmax) OutputHead.Softmax(output);
    }

    // x = (input - mean) / std, as the reference writes it (a division, not a product by a reciprocal).
    private void Normalize(ReadOnlySpan<float> input, Span<float> x)
    {
        if (_inMean is null && _inStd is null) { input.CopyTo(x); return; }
        for (int i = 0; i < x.Length; i++)
        {
            float v = _inMean is null ? input[i] : input[i] - _inMean[i];
            x[i] = _inStd is null ? v : v / _inStd[i];
        }
    }

    // The training code at T = 1, B = 1 over the arena: the reference path. output: [O] before de-normalization.
    private void StepReference(Span<float> output)
    {
        var s = _p.Shape;
        int h = s.HiddenSize;
        bool lstm = s.Arch == RnnArch.Lstm;
        int stride = lstm ? 2 * h : h;
        ReadOnlySpan<float> layerInput = _x;
        for (int l = 0; l < s.NumLayers; l++)
        {
            Span<float> hState = _state.AsSpan(l * stride, h);
            hState.CopyTo(_hs);
            Span<float> cState = lstm ? _state.AsSpan(l * stride + h, h) : default;
            if (lstm) cState.CopyTo(_cs);
            RecurrentLayer.Forward(_p, l, 1, 1, layerInput, _hs, lstm ? _cs : default, _gates, _ghn, _scratch);
            _hs.AsSpan(h, h).CopyTo(hState);
            if (lstm) _cs.AsSpan(h, h).CopyTo(cState);
            layerInput = hState;
        }
        // y = W_head h_top + b_head
        FloatKernels.MatMulTransposed(output, layerInput, _p.HeadWeight, _p.HeadBias, 1, s.OutputSize, h);
    }

    /// <summary>The whole sequence, state carried from the current state. inputs: [T, InputSize]; outputs: [T, OutputSize].</summary>
    public void Run(ReadOnlySpan<float> inputs, Span<float> outputs)
    {
        int i = _p.Shape.InputSize, o = _p.Shape.OutputSize;
        if (inputs.Length % i != 0 || outputs.Length != inputs.Length / i * o)
            throw new ArgumentException($"inputs [{inputs.Length}] and outputs [{outputs.Length}] are not [T, {i}] and [T, {o}]");
        for (int t = 0; t < inputs.Length / i; t++) Step(inputs.Slice(t * i, i), outputs.Slice(t * o, o));
    }

    public void Reset()
    {
        Array.Clear(_state);
        _packed?.Reset();
    }

    /// <summary>A new forecaster over a copy (this one reads its arena live, so it must not see a learner's writes mid-step).</summary>
    public IForecaster WithWeights(ForecasterParameters parameters) => new FloatForecaster(parameters.Clone());

    public void GetState(Span<float> destination)
    {
        if (destination.Length != StateSize) throw new ArgumentException($"state has {StateSize} values, destination {destination.Length}");
        if (_packed is not null) _packed.GetState(destination);
        else _state.CopyTo(destination);
    }

    public void SetState(ReadOnlySpan<float> source)
    {
        if (source.Length != StateSize) throw new ArgumentException($"state has {StateSize} values, source {source.Length}");
        if (_packed is not null) _packed.SetState(source);
        else source.CopyTo(_state);
    }
}
