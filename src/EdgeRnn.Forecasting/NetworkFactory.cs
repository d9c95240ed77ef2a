using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;

namespace EdgeRnn.Forecasting;

/// <summary>Builds the streaming network for a precision. The one place that picks the float and int8 implementations.</summary>
public static class NetworkFactory
{
    public static IForecaster Create(ForecasterParameters p, Precision precision) => precision switch
    {
        Precision.Float32 => new FloatForecaster(p),
        Precision.Int8 => new Int8Forecaster(p),
        _ => throw new ArgumentOutOfRangeException(nameof(precision)),
    };

    public static bool Supports(Precision precision) => precision is Precision.Float32 or Precision.Int8;
}
