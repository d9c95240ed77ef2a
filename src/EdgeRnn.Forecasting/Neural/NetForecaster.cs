using EdgeRnn.Model;

namespace EdgeRnn.Forecasting.Neural;

/// <summary>
/// A float streaming <see cref="IForecaster"/> over <see cref="RecurrentNet"/> (batch 1, one step at a time), applying
/// the model file's normalization. Used until the engine's FloatForecaster is merged; same formulas as training.
/// </summary>
public sealed class NetForecaster : IForecaster
{
    private readonly ForecasterParameters _p;
    private readonly RecurrentNet _net;
    private readonly float[] _x, _state;

    public NetForecaster(ForecasterParameters p)
    {
        _p = p;
        _net = new RecurrentNet(p.Shape, 1, 1);
        _x = new float[p.Shape.InputSize];
        _state = new float[p.Shape.StateSize];
    }

    public ForecasterShape Shape => _p.Shape;
    public int StateSize => _p.Shape.StateSize;

    public void Step(ReadOnlySpan<float> input, Span<float> output)
    {
        for (int i = 0; i < _x.Length; i++)
            _x[i] = _p.InputMean is null ? input[i] : (input[i] - _p.InputMean[i]) / _p.InputStd![i];
        _net.SetInitialState(0, _state);
        _net.Forward(_p, _x, 1);
        _net.GetState(0, 0, _state);
        ReadOnlySpan<float> y = _net.Output;
        for (int o = 0; o < y.Length; o++)
            output[o] = _p.OutputMean is null ? y[o] : y[o] * _p.OutputStd![o] + _p.OutputMean[o];
    }

    public void Reset() => Array.Clear(_state);
    public void GetState(Span<float> destination) => _state.CopyTo(destination);
    public void SetState(ReadOnlySpan<float> source) => source.CopyTo(_state);
}
