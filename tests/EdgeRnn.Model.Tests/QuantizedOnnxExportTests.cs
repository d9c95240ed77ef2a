using EdgeRnn.Model.Quantized;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeRnn.Model.Tests;

/// <summary>The exported ONNX model, run by ONNX Runtime, against the float32 engine (and so against PyTorch).</summary>
[Collection("quant")]
public class QuantizedOnnxExportTests(QuantModels models)
{
    public static TheoryData<string> Cases()
    {
        var d = new TheoryData<string>();
        foreach (var c in QuantModels.Cases) d.Add(c);
        return d;
    }

    private static InferenceSession Session(ForecasterParameters p)
    {
        var o = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        return new InferenceSession(OnnxExporter.Export(p), o);
    }

    /// <summary>Runs steps [from, to) through ORT with the given per-layer states; returns outputs and the final states.</summary>
    private static (float[] Y, float[][] H, float[][] C) RunOrt(InferenceSession s, ForecasterParameters p, float[] x, int from, int to, float[][] h, float[][] c)
    {
        var shape = p.Shape;
        int t = to - from, hid = shape.HiddenSize;
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(x.AsSpan(from * shape.InputSize, t * shape.InputSize).ToArray(), [t, 1, shape.InputSize])),
        };
        for (int l = 0; l < shape.NumLayers; l++)
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor($"h0_{l}", new DenseTensor<float>(h[l], [1, 1, hid])));
            if (shape.Arch == RnnArch.Lstm) inputs.Add(NamedOnnxValue.CreateFromTensor($"c0_{l}", new DenseTensor<float>(c[l], [1, 1, hid])));
        }
        using var results = s.Run(inputs);
        float[] Get(string name) => results.First(r => r.Name == name).AsTensor<float>().ToArray();
        var hs = new float[shape.NumLayers][];
        var cs = new float[shape.NumLayers][];
        for (int l = 0; l < shape.NumLayers; l++)
        {
            hs[l] = Get($"hT_{l}");
            cs[l] = shape.Arch == RnnArch.Lstm ? Get($"cT_{l}") : new float[hid];
        }
        return (Get("output"), hs, cs);
    }

    [Theory, MemberData(nameof(Cases))]
    public void OnnxRuntimeOutputMatchesTheFloatEngine(string name)
    {
        var (p, x, _) = models.Load(name);
        var shape = p.Shape;
        int steps = x.Length / shape.InputSize;
        var f = new FloatForecaster(p);
        var want = new float[steps * shape.OutputSize];
        for (int t = 0; t < steps; t++) f.Step(x.AsSpan(t * shape.InputSize, shape.InputSize), want.AsSpan(t * shape.OutputSize, shape.OutputSize));

        using var session = Session(p);
        var zero = Enumerable.Range(0, shape.NumLayers).Select(_ => new float[shape.HiddenSize]).ToArray();
        // whole sequence in one call
        var (all, _, _) = RunOrt(session, p, x, 0, steps, zero, zero);
        Assert.True(PyTorch.ScaledError(all, want) <= 1e-5, $"{name}: ORT vs engine scaled error {PyTorch.ScaledError(all, want):E3}");

        // streamed: one step per call, state passed out and back in (as the benchmark runs it)
        var h = zero;
        var c = zero;
        var streamed = new float[want.Length];
        for (int t = 0; t < 40; t++)
        {
            var (y, h2, c2) = RunOrt(session, p, x, t, t + 1, h, c);
            y.CopyTo(streamed, t * shape.OutputSize);
            h = h2;
            c = c2;
        }
        int n = 40 * shape.OutputSize;
        Assert.True(PyTorch.ScaledError(streamed.AsSpan(0, n), want.AsSpan(0, n)) <= 1e-5, $"{name}: streamed ORT vs engine");
    }

    [Fact]
    public void ExportedNormalizationIsApplied()
    {
        var (p, x, _) = models.Load("gru_l1_h64");
        var q = p.Clone();
        q.OutputMean = [1f, 2f, 3f, 4f];
        q.OutputStd = [10f, 0.5f, 2f, 1f];
        using var sp = Session(p);
        using var sq = Session(q);
        var zero = new[] { new float[64] };
        var (a, _, _) = RunOrt(sp, p, x, 0, 10, zero, zero);
        var (b, _, _) = RunOrt(sq, q, x, 0, 10, zero, zero);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i] * q.OutputStd[i % 4] + q.OutputMean[i % 4], b[i], 4);
    }
}
