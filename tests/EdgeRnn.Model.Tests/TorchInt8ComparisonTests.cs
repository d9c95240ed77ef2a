using EdgeRnn.Model.Quantized;
using EdgeRnn.Numerics.Int8;
using Xunit.Abstractions;

namespace EdgeRnn.Model.Tests;

/// <summary>
/// EdgeRnn's int8 against PyTorch's own int8 (torch.quantization.quantize_dynamic, engine qnnpack) on the same models
/// and inputs (tests/python/torch_int8.py): default-initialised and briefly trained LSTM, GRU and tanh RNN models,
/// inputs 1-8, hidden 16-256, outputs 1-24. Error = RMSE(int8 − PyTorch float32) / std(PyTorch float32), both
/// streamed one step per call from a zero state.
/// </summary>
public sealed class TorchInt8ComparisonTests(ITestOutputHelper log)
{
    private static float[] Run(IForecaster f, float[] x) => f.StepAll(x);

    /// <summary>RMSE(got − want) / std(want) over every output of every step.</summary>
    internal static double RelativeError(float[] got, float[] want)
    {
        Assert.Equal(want.Length, got.Length);
        double mean = want.Average(v => (double)v), ss = 0, se = 0;
        for (int i = 0; i < want.Length; i++)
        {
            ss += (want[i] - mean) * (want[i] - mean);
            se += (got[i] - (double)want[i]) * (got[i] - (double)want[i]);
        }
        return Math.Sqrt(se / ss);
    }

    [Fact]
    public void Int8ErrorIsAtMostPyTorchDynamicInt8ErrorOnEveryModel()
    {
        string dir = Path.Combine(Path.GetTempPath(), "edgernn-torchint8-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            PyTorch.Run("torch_int8.py", dir, PyTorch.RepoRoot);
            var cases = File.ReadAllLines(Path.Combine(dir, "cases.txt")).Where(l => l.Length > 0).ToArray();
            Assert.True(cases.Length >= 12, $"only {cases.Length} models");
            var archs = new HashSet<RnnArch>();
            var worse = new List<string>();
            log.WriteLine($"{"model",-26} {"EdgeRnn int8",12} {"PyTorch int8",12} {"ratio",6}");
            foreach (string name in cases)
            {
                var p = ModelFile.Load(Path.Combine(dir, name + ".safetensors"));
                var d = PyTorch.ReadTensors(Path.Combine(dir, name + ".data.safetensors"));
                float[] x = d["x"].Data, y = d["y"].Data, yq = d["yq"].Data;
                archs.Add(p.Shape.Arch);
                // our float32 engine reproduces PyTorch's float model, so the int8 errors below are quantization alone
                Assert.True(RelativeError(Run(new FloatForecaster(p), x), y) < 1e-4, $"{name}: float32 engine differs from PyTorch");
                double ours = RelativeError(Run(new Int8Forecaster(p, Int8Kernels.Active), x), y);
                double theirs = RelativeError(yq, y);
                Assert.True(theirs > 0, $"{name}: PyTorch's int8 equals its float32, the comparison would be empty");
                log.WriteLine($"{name,-26} {ours,12:F5} {theirs,12:F5} {ours / theirs,6:F2}");
                if (!(ours <= theirs)) worse.Add($"{name}: EdgeRnn {ours:F5} > PyTorch {theirs:F5}");
            }
            Assert.Equal(3, archs.Count);
            Assert.True(worse.Count == 0, string.Join("\n", worse));
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
