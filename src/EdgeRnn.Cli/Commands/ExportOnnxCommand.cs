using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;

namespace EdgeRnn.Cli.Commands;

/// <summary>edgernn export-onnx --model M.safetensors --out M.onnx: the float model as ONNX (LSTM/GRU/RNN ops, opset 17).</summary>
public static class ExportOnnxCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, Array.Empty<string>());
        string? model = a.Get("model"), output = a.Get("output");
        a.RejectUnknown();
        if (model is null) throw new UsageException("missing --model");
        if (output is null) throw new UsageException("missing --output");
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");
        var p = ModelFile.Load(model);
        byte[] bytes = OnnxExporter.Export(p);
        AtomicFile.Write(output, s => s.Write(bytes));
        Console.Error.WriteLine($"edgernn export-onnx: {p.Shape.Arch.ToSpecName()} {p.Shape.NumLayers}×{p.Shape.HiddenSize}, {bytes.Length} bytes, wrote {output}");
        return 0;
    }
}
