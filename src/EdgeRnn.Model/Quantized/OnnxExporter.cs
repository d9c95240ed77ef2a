using System.Runtime.InteropServices;
using System.Text;

namespace EdgeRnn.Model.Quantized;

/// <summary>
/// Writes a forecaster as an ONNX model (opset 17), protobuf wire format written by hand (the few messages needed:
/// ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
/// Graph: input [T, 1, In] → (x - mean) / std → per layer one LSTM / GRU / RNN op (PyTorch gate blocks reordered:
/// LSTM i,f,g,o → ONNX i,o,f,c; GRU r,z,n → z,r,h with linear_before_reset=1, which is PyTorch's GRU) → Squeeze the
/// direction axis → MatMul + Add head → y · std + mean → output [T, 1, O].
/// State in and out: inputs h0_l (and c0_l) [1, 1, H], outputs hT_l (and cT_l), so a caller can stream one step a call.
/// </summary>
public static class OnnxExporter
{
    private const int FloatType = 1, Int64Type = 7;

    public static byte[] Export(ForecasterParameters p)
    {
        var s = p.Shape;
        int h = s.HiddenSize, g = s.Gates;
        var graph = new Pb();
        var nodes = new List<Pb>();
        graph.Str(2, "edgernn_forecaster");

        string x = "input";
        if (p.InputMean is not null)
        {
            Init(graph, "input_mean", [s.InputSize], p.InputMean);
            nodes.Add(Node("Sub", [x, "input_mean"], ["x_centered"]));
            x = "x_centered";
        }
        if (p.InputStd is not null)
        {
            Init(graph, "input_std", [s.InputSize], p.InputStd);
            nodes.Add(Node("Div", [x, "input_std"], ["x_normalized"]));
            x = "x_normalized";
        }
        Init64(graph, "squeeze_axes", [1], [1]);

        int[] order = s.Arch switch
        {
            RnnArch.Lstm => [0, 3, 1, 2], // ONNX i,o,f,c from PyTorch i,f,g,o
            RnnArch.Gru => [1, 0, 2],     // ONNX z,r,h from PyTorch r,z,n
            _ => [0],
        };
        for (int l = 0; l < s.NumLayers; l++)
        {
            int inSize = s.LayerInputSize(l);
            Init(graph, $"W{l}", [1, g * h, inSize], Reorder(p.WeightIh(l), order, h * inSize));
            Init(graph, $"R{l}", [1, g * h, h], Reorder(p.WeightHh(l), order, h * h));
            var b = new float[2 * g * h];
            Reorder(p.BiasIh(l), order, h).CopyTo(b, 0);
            Reorder(p.BiasHh(l), order, h).CopyTo(b, g * h);
            Init(graph, $"B{l}", [1, 2 * g * h], b);
            var inputs = new List<string> { x, $"W{l}", $"R{l}", $"B{l}", "", $"h0_{l}" };
            var outputs = new List<string> { $"Y{l}", $"hT_{l}" };
            if (s.Arch == RnnArch.Lstm) { inputs.Add($"c0_{l}"); outputs.Add($"cT_{l}"); }
            var attrs = new List<Pb> { AttrInt("hidden_size", h) };
            string op = s.Arch switch { RnnArch.Lstm => "LSTM", RnnArch.Gru => "GRU", _ => "RNN" };
            if (s.Arch == RnnArch.Gru) attrs.Add(AttrInt("linear_before_reset", 1));
            if (s.Arch is RnnArch.RnnTanh or RnnArch.RnnRelu) attrs.Add(AttrStrings("activations", s.Arch == RnnArch.RnnTanh ? "Tanh" : "Relu"));
            nodes.Add(Node(op, inputs, outputs, attrs));
            // Y: [T, num_directions=1, batch=1, H] → [T, 1, H]
            nodes.Add(Node("Squeeze", [$"Y{l}", "squeeze_axes"], [$"Y{l}_sq"]));
            x = $"Y{l}_sq";
        }

        var headT = new float[h * s.OutputSize]; // [H, O]
        var hw = p.HeadWeight;
        for (int o = 0; o < s.OutputSize; o++)
            for (int j = 0; j < h; j++) headT[j * s.OutputSize + o] = hw[o * h + j];
        Init(graph, "head_weight_t", [h, s.OutputSize], headT);
        Init(graph, "head_bias", [s.OutputSize], p.HeadBias.ToArray());
        nodes.Add(Node("MatMul", [x, "head_weight_t"], ["head_mm"]));
        string y = p.OutputStd is null && p.OutputMean is null ? "output" : "head_out";
        nodes.Add(Node("Add", ["head_mm", "head_bias"], [y]));
        if (p.OutputStd is not null)
        {
            Init(graph, "output_std", [s.OutputSize], p.OutputStd);
            string next = p.OutputMean is null ? "output" : "y_scaled";
            nodes.Add(Node("Mul", [y, "output_std"], [next]));
            y = next;
        }
        if (p.OutputMean is not null)
        {
            Init(graph, "output_mean", [s.OutputSize], p.OutputMean);
            nodes.Add(Node("Add", [y, "output_mean"], ["output"]));
        }

        foreach (var n in nodes) graph.Msg(1, n);
        graph.Msg(11, ValueInfo("input", ["T", "1", s.InputSize.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
        for (int l = 0; l < s.NumLayers; l++)
        {
            graph.Msg(11, ValueInfo($"h0_{l}", ["1", "1", h.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
            if (s.Arch == RnnArch.Lstm) graph.Msg(11, ValueInfo($"c0_{l}", ["1", "1", h.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
        }
        graph.Msg(12, ValueInfo("output", ["T", "1", s.OutputSize.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
        for (int l = 0; l < s.NumLayers; l++)
        {
            graph.Msg(12, ValueInfo($"hT_{l}", ["1", "1", h.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
            if (s.Arch == RnnArch.Lstm) graph.Msg(12, ValueInfo($"cT_{l}", ["1", "1", h.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
        }

        var model = new Pb();
        model.Int(1, 8);                 // ir_version
        model.Str(2, "edgernn");         // producer_name
        model.Msg(7, graph);
        var opset = new Pb();
        opset.Str(1, "");
        opset.Int(2, 17);
        model.Msg(8, opset);
        return model.ToArray();
    }

    /// <summary>Gate blocks of <paramref name="blockSize"/> floats, taken in <paramref name="order"/>.</summary>
    private static float[] Reorder(ReadOnlySpan<float> src, int[] order, int blockSize)
    {
        var dst = new float[src.Length];
        for (int k = 0; k < order.Length; k++) src.Slice(order[k] * blockSize, blockSize).CopyTo(dst.AsSpan(k * blockSize));
        return dst;
    }

    private static void Init(Pb graph, string name, long[] dims, float[] data) => Init(graph, name, dims, FloatType, data);

    private static void Init64(Pb graph, string name, long[] dims, long[] data) => Init(graph, name, dims, Int64Type, data);

    // An initializer tensor: dims, element type, name and raw_data in the machine's byte order (little-endian on every
    // target), as BitConverter writes each element.
    private static void Init<T>(Pb graph, string name, long[] dims, int type, T[] data) where T : unmanaged
    {
        var t = new Pb();
        foreach (long d in dims) t.Int(1, d);
        t.Int(2, type);
        t.Str(8, name);
        t.Bytes(9, MemoryMarshal.AsBytes(data.AsSpan()));
        graph.Msg(5, t);
    }

    private static Pb Node(string op, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, IReadOnlyList<Pb>? attrs = null)
    {
        var n = new Pb();
        foreach (var i in inputs) n.Str(1, i);
        foreach (var o in outputs) n.Str(2, o);
        n.Str(3, op + "_" + outputs[0]);
        n.Str(4, op);
        if (attrs is not null) foreach (var a in attrs) n.Msg(5, a);
        return n;
    }

    private static Pb AttrInt(string name, long v)
    {
        var a = new Pb();
        a.Str(1, name);
        a.Int(3, v);
        a.Int(20, 2); // INT
        return a;
    }

    private static Pb AttrStrings(string name, params string[] values)
    {
        var a = new Pb();
        a.Str(1, name);
        foreach (var v in values) a.Str(9, v);
        a.Int(20, 8); // STRINGS
        return a;
    }

    /// <summary>A float tensor value; a dimension that is not a number is symbolic (dim_param).</summary>
    private static Pb ValueInfo(string name, string[] dims)
    {
        var shape = new Pb();
        foreach (var d in dims)
        {
            var dim = new Pb();
            if (long.TryParse(d, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long v)) dim.Int(1, v);
            else dim.Str(2, d);
            shape.Msg(1, dim);
        }
        var tensor = new Pb();
        tensor.Int(1, FloatType);
        tensor.Msg(2, shape);
        var type = new Pb();
        type.Msg(1, tensor);
        var vi = new Pb();
        vi.Str(1, name);
        vi.Msg(2, type);
        return vi;
    }

    /// <summary>Protobuf wire format: varints (wire type 0) and length-delimited fields (wire type 2).</summary>
    private sealed class Pb
    {
        private readonly MemoryStream _s = new();

        private void Varint(ulong v)
        {
            while (v >= 0x80) { _s.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _s.WriteByte((byte)v);
        }

        private void Tag(int field, int wire) => Varint((ulong)((field << 3) | wire));

        public void Int(int field, long v) { Tag(field, 0); Varint((ulong)v); }

        public void Bytes(int field, ReadOnlySpan<byte> b) { Tag(field, 2); Varint((ulong)b.Length); _s.Write(b); }

        public void Str(int field, string v) => Bytes(field, Encoding.UTF8.GetBytes(v));

        public void Msg(int field, Pb m) => Bytes(field, m._s.GetBuffer().AsSpan(0, (int)m._s.Length));

        public byte[] ToArray() => _s.ToArray();
    }
}
