namespace EdgeRnn.Model;

/// <summary>The recurrent cell, named as the model-file contract names it (metadata key "arch").</summary>
public enum RnnArch { Lstm, Gru, RnnTanh, RnnRelu }

public static class RnnArchInfo
{
    /// <summary>Rows of weight_ih / weight_hh per hidden unit: PyTorch's gate stacking (LSTM i,f,g,o; GRU r,z,n).</summary>
    public static int GateCount(this RnnArch arch) => arch switch
    {
        RnnArch.Lstm => 4,
        RnnArch.Gru => 3,
        _ => 1,
    };

    public static string ToSpecName(this RnnArch arch) => arch switch
    {
        RnnArch.Lstm => "lstm",
        RnnArch.Gru => "gru",
        RnnArch.RnnTanh => "rnn_tanh",
        RnnArch.RnnRelu => "rnn_relu",
        _ => throw new ArgumentOutOfRangeException(nameof(arch)),
    };

    public static bool TryParse(string? name, out RnnArch arch)
    {
        switch (name)
        {
            case "lstm": arch = RnnArch.Lstm; return true;
            case "gru": arch = RnnArch.Gru; return true;
            case "rnn_tanh": arch = RnnArch.RnnTanh; return true;
            case "rnn_relu": arch = RnnArch.RnnRelu; return true;
            default: arch = default; return false;
        }
    }
}

/// <summary>Sizes of a stacked recurrent forecaster: input → layers × hidden → linear head → output.</summary>
public sealed record ForecasterShape(RnnArch Arch, int InputSize, int HiddenSize, int NumLayers, int OutputSize)
{
    public int Gates => Arch.GateCount();

    /// <summary>Floats of recurrent state: h per layer, plus c per layer for LSTM.</summary>
    public int StateSize => NumLayers * HiddenSize * (Arch == RnnArch.Lstm ? 2 : 1);

    public int LayerInputSize(int layer) => layer == 0 ? InputSize : HiddenSize;

    public void Validate()
    {
        const int Max = 1 << 16;
        if (InputSize is < 1 or > Max) throw new ArgumentOutOfRangeException(nameof(InputSize), InputSize, "input_size must be 1..65536");
        if (HiddenSize is < 1 or > Max) throw new ArgumentOutOfRangeException(nameof(HiddenSize), HiddenSize, "hidden_size must be 1..65536");
        if (NumLayers is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(NumLayers), NumLayers, "num_layers must be 1..64");
        if (OutputSize is < 1 or > Max) throw new ArgumentOutOfRangeException(nameof(OutputSize), OutputSize, "output_size must be 1..65536");
    }
}
