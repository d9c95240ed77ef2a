using EdgeRnn.Model;

namespace EdgeRnn.Forecasting;

/// <summary>Builds the streaming network for a precision. The one place that picks the float and int8 implementations.</summary>
public static class NetworkFactory
{
    public static IForecaster Create(ForecasterParameters p, Precision precision) => precision switch
    {
        Precision.Float32 => new FloatForecaster(p),
        _ => throw new NotSupportedException("int8 inference is not available in this build"),
    };

    public static bool Supports(Precision precision) => precision == Precision.Float32;
}
