namespace EdgeRnn.Model;

/// <summary>One named tensor inside the parameter arena, in PyTorch state_dict order.</summary>
public readonly record struct ParameterTensor(string Name, int[] Shape, int Offset, int Length);

/// <summary>
/// All parameters of a forecaster in one float arena, laid out in PyTorch state_dict order:
/// per layer l: rnn.weight_ih_l{l} [G*H, in_l], rnn.weight_hh_l{l} [G*H, H], rnn.bias_ih_l{l} [G*H], rnn.bias_hh_l{l} [G*H];
/// then head.weight [O, H], head.bias [O]. The same layout serves as a gradient buffer (see <see cref="CreateLike"/>).
/// Normalization and free metadata travel with the parameters because the model file carries them.
/// </summary>
public sealed class ForecasterParameters
{
    private readonly int[] _layerOffsets; // start of weight_ih_l{l}
    private readonly int _headOffset;

    public ForecasterShape Shape { get; }
    /// <summary>The weights. Code that writes them in place after a forecaster was built over them calls
    /// <see cref="MarkChanged"/> (the optimizers do), so a forecaster holding a packed copy repacks before its next step.</summary>
    public float[] Arena { get; }

    /// <summary>Moves whenever <see cref="MarkChanged"/> is called: a cheap test for "the arena may have changed".</summary>
    public long Version { get; private set; }

    /// <summary>Declares an in-place write of <see cref="Arena"/> (see <see cref="Version"/>).</summary>
    public void MarkChanged() => Version++;
    public IReadOnlyList<ParameterTensor> Tensors { get; }

    /// <summary>The network sees (x - InputMean) / InputStd; null means identity.</summary>
    public float[]? InputMean { get; set; }
    public float[]? InputStd { get; set; }
    /// <summary>The user sees y * OutputStd + OutputMean; null means identity.</summary>
    public float[]? OutputMean { get; set; }
    public float[]? OutputStd { get; set; }

    /// <summary>Metadata keys other than arch and normalization (free for the project: name, version, horizon, targets...).</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    public ForecasterParameters(ForecasterShape shape)
    {
        shape.Validate();
        Shape = shape;
        int g = shape.Gates, h = shape.HiddenSize;
        var tensors = new List<ParameterTensor>();
        _layerOffsets = new int[shape.NumLayers];
        long offset = 0;
        void Add(string name, params int[] dims)
        {
            long len = 1;
            foreach (int d in dims) len *= d;
            tensors.Add(new ParameterTensor(name, dims, checked((int)offset), checked((int)len)));
            offset += len;
            if (offset > int.MaxValue / 2) throw new ArgumentOutOfRangeException(nameof(shape), "model has too many parameters");
        }
        for (int l = 0; l < shape.NumLayers; l++)
        {
            _layerOffsets[l] = (int)offset;
            Add($"rnn.weight_ih_l{l}", g * h, shape.LayerInputSize(l));
            Add($"rnn.weight_hh_l{l}", g * h, h);
            Add($"rnn.bias_ih_l{l}", g * h);
            Add($"rnn.bias_hh_l{l}", g * h);
        }
        _headOffset = (int)offset;
        Add("head.weight", shape.OutputSize, h);
        Add("head.bias", shape.OutputSize);
        Tensors = tensors;
        Arena = new float[offset];
    }

    /// <summary>A zeroed arena of the same shape (for gradients or optimizer moments).</summary>
    public static ForecasterParameters CreateLike(ForecasterParameters p) => new(p.Shape);

    public ForecasterParameters Clone()
    {
        var c = new ForecasterParameters(Shape);
        Arena.AsSpan().CopyTo(c.Arena);
        c.InputMean = (float[]?)InputMean?.Clone();
        c.InputStd = (float[]?)InputStd?.Clone();
        c.OutputMean = (float[]?)OutputMean?.Clone();
        c.OutputStd = (float[]?)OutputStd?.Clone();
        foreach (var kv in Metadata) c.Metadata[kv.Key] = kv.Value;
        return c;
    }

    private int GH => Shape.Gates * Shape.HiddenSize;

    // [G*H, in_l]
    public Span<float> WeightIh(int layer) => Arena.AsSpan(_layerOffsets[layer], GH * Shape.LayerInputSize(layer));
    // [G*H, H]
    public Span<float> WeightHh(int layer) => Arena.AsSpan(_layerOffsets[layer] + GH * Shape.LayerInputSize(layer), GH * Shape.HiddenSize);
    // [G*H]
    public Span<float> BiasIh(int layer) => Arena.AsSpan(_layerOffsets[layer] + GH * (Shape.LayerInputSize(layer) + Shape.HiddenSize), GH);
    // [G*H]
    public Span<float> BiasHh(int layer) => Arena.AsSpan(_layerOffsets[layer] + GH * (Shape.LayerInputSize(layer) + Shape.HiddenSize + 1), GH);
    // [O, H]
    public Span<float> HeadWeight => Arena.AsSpan(_headOffset, Shape.OutputSize * Shape.HiddenSize);
    // [O]
    public Span<float> HeadBias => Arena.AsSpan(_headOffset + Shape.OutputSize * Shape.HiddenSize, Shape.OutputSize);

    public ParameterTensor? Find(string name)
    {
        foreach (var t in Tensors) if (t.Name == name) return t;
        return null;
    }
}
