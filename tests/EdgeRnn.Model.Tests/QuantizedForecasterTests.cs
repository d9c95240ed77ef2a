using EdgeRnn.Model.Quantized;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Model.Tests;

/// <summary>One python run: PyTorch-made (briefly trained) models with their float32 outputs.</summary>
public sealed class QuantModels : IDisposable
{
    public string Dir { get; }
    public static readonly string[] Cases =
        ["lstm_l1_h32", "lstm_l2_h64", "lstm_l1_h128", "lstm_l1_h256", "gru_l1_h64", "gru_l2_h128", "gru_l1_h256", "rnn_tanh_l1_h64", "rnn_relu_l1_h64"];

    public QuantModels()
    {
        Dir = Path.Combine(Path.GetTempPath(), "edgernn-quant-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Dir);
        PyTorch.Run("quant_models.py", Dir);
    }

    public (ForecasterParameters P, float[] X, float[] Y) Load(string name)
    {
        var p = ModelFile.Load(Path.Combine(Dir, name + ".safetensors"));
        var d = PyTorch.ReadTensors(Path.Combine(Dir, name + ".data.safetensors"));
        return (p, d["x"].Data, d["y"].Data);
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

[CollectionDefinition("quant")]
public sealed class QuantCollection : ICollectionFixture<QuantModels>;

[Collection("quant")]
public class QuantizedForecasterTests(QuantModels models)
{
    public static TheoryData<string> Cases()
    {
        var d = new TheoryData<string>();
        foreach (var c in QuantModels.Cases) d.Add(c);
        return d;
    }

    private static float[] Run(IForecaster f, float[] x) => f.StepAll(x);

    private static (double Rmse, double Std) Compare(float[] got, float[] want)
    {
        double mean = want.Average(v => (double)v), ss = 0, se = 0;
        for (int i = 0; i < want.Length; i++) { ss += (want[i] - mean) * (want[i] - mean); se += (got[i] - want[i]) * (double)(got[i] - want[i]); }
        return (Math.Sqrt(se / want.Length), Math.Sqrt(ss / want.Length));
    }

    [Theory, MemberData(nameof(Cases))]
    public void Int8OutputRmseIsWithinTwoPercentOfTheOutputStdOnPyTorchModels(string name)
    {
        var (p, x, torchY) = models.Load(name);
        var floatY = Run(new FloatForecaster(p), x);
        var (floatRmse, std) = Compare(floatY, torchY);
        Assert.True(floatRmse < 1e-4 * std, $"{name}: float32 engine differs from PyTorch: rmse {floatRmse:E3}, std {std:E3}");
        var int8Y = Run(new Int8Forecaster(p), x);
        var (rmse, _) = Compare(int8Y, floatY);
        Assert.True(rmse <= 0.02 * std, $"{name}: int8 rmse {rmse:E3} = {rmse / std:P2} of std {std:E3}");
        // ...and quantization does change the numbers: the test compares two different computations.
        Assert.True(rmse > 0, $"{name}: int8 identical to float32");
    }

    [Theory, MemberData(nameof(Cases))]
    public void EveryKernelPathGivesBitIdenticalOutputs(string name)
    {
        var (p, x, _) = models.Load(name);
        var reference = Run(new Int8Forecaster(p, KernelPath.Scalar.Kernels), x);
        foreach (var path in Int8Kernels.SupportedPaths)
        {
            var y = Run(new Int8Forecaster(p, path.Kernels), x);
            for (int i = 0; i < y.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(reference[i]) == BitConverter.SingleToInt32Bits(y[i]),
                    $"{name} {path}: output {i} is {y[i]:R}, scalar path gives {reference[i]:R}");
        }
    }

    /// <summary>The float epilogue (gates, cell, h and its int8 copy) at every lane width against the scalar-lane
    /// reference: x64 runs the 256-bit width, ARM64 the 2×128-bit one, and both must give the reference's bits.</summary>
    [Theory, MemberData(nameof(Cases))]
    public void EveryEpilogueLaneWidthGivesTheScalarReferenceBits(string name)
    {
        var (p, x, _) = models.Load(name);
        var k = Int8Kernels.Active;
        var reference = Run(new Int8Forecaster(p, k, Int8Forecaster.EpilogueLanes.Scalar), x);
        foreach (var lanes in new[] { Int8Forecaster.EpilogueLanes.Vector256, Int8Forecaster.EpilogueLanes.Vector128x2 })
        {
            var y = Run(new Int8Forecaster(p, k, lanes), x);
            for (int i = 0; i < y.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(reference[i]) == BitConverter.SingleToInt32Bits(y[i]),
                    $"{name} {lanes}: output {i} is {y[i]:R}, scalar lanes give {reference[i]:R}");
        }
    }

    /// <summary>Hidden sizes that leave a partial block of 8 units (its padding units must stay exactly zero), every
    /// architecture, one and two layers: every kernel path and lane width against the scalar path with scalar lanes.</summary>
    [Theory]
    [InlineData(RnnArch.Lstm)]
    [InlineData(RnnArch.Gru)]
    [InlineData(RnnArch.RnnTanh)]
    [InlineData(RnnArch.RnnRelu)]
    public void PartialUnitBlocksGiveTheReferenceBitsOnEveryPathAndWidth(RnnArch arch)
    {
        foreach (var (inputs, hidden, layers) in new[] { (3, 20, 1), (1, 37, 2), (9, 5, 1) })
        {
            var p = new ForecasterParameters(new ForecasterShape(arch, inputs, hidden, layers, 3));
            var rng = new Random(hidden);
            for (int i = 0; i < p.Arena.Length; i++) p.Arena[i] = (float)(rng.NextDouble() * 2 - 1) * 1.5f / MathF.Sqrt(hidden);
            var x = new float[200 * inputs];
            for (int i = 0; i < x.Length; i++) x[i] = MathF.Sin(0.37f * i) * 2 + (float)rng.NextDouble();
            var reference = Run(new Int8Forecaster(p, KernelPath.Scalar.Kernels, Int8Forecaster.EpilogueLanes.Scalar), x);
            Assert.All(reference, v => Assert.True(float.IsFinite(v)));
            foreach (var path in Int8Kernels.SupportedPaths)
                foreach (var lanes in new[] { Int8Forecaster.EpilogueLanes.Vector256, Int8Forecaster.EpilogueLanes.Vector128x2 })
                {
                    var f = new Int8Forecaster(p, path.Kernels, lanes);
                    var y = Run(f, x);
                    Assert.True(reference.AsSpan().SequenceEqual(y), $"{arch} {inputs}-{hidden}x{layers} {path} {lanes} differs from the scalar reference");
                }
        }
    }

    /// <summary>A ReLU RNN whose h overflows to infinity: the range the epilogue keeps in registers (whole blocks, H = 16)
    /// and the units it reads back (the partial block's, H = 20, only they overflow) must both report it, on every lane
    /// width, rather than quantize an infinite h.</summary>
    [Theory]
    [InlineData(16, 0)]
    [InlineData(20, 16)]
    public void OverflowingHiddenStateIsReportedOnEveryLaneWidth(int hidden, int firstBigUnit)
    {
        var p = new ForecasterParameters(new ForecasterShape(RnnArch.RnnRelu, 2, hidden, 1, 1));
        p.Arena.AsSpan().Fill(0.01f);
        Span<float> whh = p.WeightHh(0), wih = p.WeightIh(0);
        for (int r = firstBigUnit; r < hidden; r++)
        {
            whh.Slice(r * hidden, hidden).Fill(1e18f);
            wih.Slice(r * 2, 2).Fill(1e18f);
        }
        foreach (var lanes in new[] { Int8Forecaster.EpilogueLanes.Scalar, Int8Forecaster.EpilogueLanes.Vector128x2, Int8Forecaster.EpilogueLanes.Vector256 })
        {
            var f = new Int8Forecaster(p, Int8Kernels.Active, lanes);
            var y = new float[1];
            var e = Assert.Throws<InvalidOperationException>(() => { for (int t = 0; t < 10; t++) f.Step([1f, 2f], y); });
            Assert.Contains("not finite", e.Message);
        }
    }

    [Fact]
    public void RequantizeSwapsWeightsAndKeepsState()
    {
        var (p, x, _) = models.Load("lstm_l1_h32");
        var f = new Int8Forecaster(p);
        var y = new float[f.Shape.OutputSize];
        f.Step(x.AsSpan(0, 8), y);
        var before = f.Weights;
        var state = new float[f.StateSize];
        f.GetState(state);

        var changed = p.Clone();
        changed.HeadBias[0] += 1f;
        var after = f.Requantize(changed);
        Assert.NotSame(before, after);
        Assert.Same(after, f.Weights);
        var state2 = new float[f.StateSize];
        f.GetState(state2);
        Assert.Equal(state, state2);

        // the same step from the same state moves output 0 by exactly the changed bias, the others not at all
        var g = new Int8Forecaster(p);
        g.SetState(state);
        var ya = new float[y.Length];
        var yb = new float[y.Length];
        g.Step(x.AsSpan(8, 8), ya);
        f.Step(x.AsSpan(8, 8), yb);
        Assert.Equal(ya[0] + 1f, yb[0], 5);
        for (int o = 1; o < y.Length; o++) Assert.Equal(ya[o], yb[o]);

        var other = new ForecasterParameters(p.Shape with { HiddenSize = 16 });
        Assert.Throws<ArgumentException>(() => f.Requantize(other));
    }

    [Fact]
    public void StepAllocatesNothing()
    {
        var (p, x, _) = models.Load("gru_l2_h128");
        var f = new Int8Forecaster(p);
        var y = new float[f.Shape.OutputSize];
        // warm up past tiered-JIT promotion (the first calls allocate while methods are jitted, not per step)
        for (int round = 0; round < 3; round++)
            for (int t = 0; t < 200; t++) f.Step(x.AsSpan(t * 8, 8), y);
        Thread.Sleep(100);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int t = 0; t < 200; t++) f.Step(x.AsSpan(t * 8, 8), y);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void ResetAndStateRoundTripReproduceOutputs()
    {
        var (p, x, _) = models.Load("lstm_l2_h64");
        var f = new Int8Forecaster(p);
        var first = Run(f, x[..80]);
        f.Reset();
        Assert.Equal(first, Run(f, x[..80]));
        var s = new float[f.StateSize];
        f.GetState(s);
        var a = Run(f, x[80..160]);
        f.SetState(s);
        Assert.Equal(a, Run(f, x[80..160]));
    }

    [Fact]
    public void NonFiniteWeightsAndInputsAreRejected()
    {
        var (p, x, _) = models.Load("lstm_l1_h32");
        var bad = p.Clone();
        bad.WeightHh(0)[5] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => new Int8Forecaster(bad));
        Assert.Contains("weight_hh_l0", e.Message);
        var f = new Int8Forecaster(p);
        var input = x[..8];
        input[2] = float.PositiveInfinity;
        Assert.Throws<ArgumentException>(() => f.Step(input, new float[4]));
    }
}
