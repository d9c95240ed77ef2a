using EdgeRnn.Model.Training;
using Xunit.Abstractions;

namespace EdgeRnn.Model.Tests;

[Collection("torch")]
public sealed class TrainingTests(TorchFixtures fx, ITestOutputHelper log)
{
    /// <summary>Twenty optimizer steps from PyTorch's initial weights on the same batch: every loss, clip norm and the final weights.</summary>
    [Theory]
    [InlineData("lstm_l2_adam", "adam", "mse", 0.2)]
    [InlineData("gru_l1_adam", "adam_lr", "mse", 0.0)]
    [InlineData("rnn_tanh_l2_sgd", "sgd", "huber", 1.0)]
    [InlineData("rnn_relu_l1_adam", "adam_lr", "huber", 0.5)]
    public void Twenty_steps_match_pytorch(string name, string optimizer, string loss, double clip)
    {
        string dir = Path.Combine(fx.Dir, "train");
        var p = ModelFile.Load(Path.Combine(dir, name + ".safetensors"));
        var data = PyTorch.ReadTensors(Path.Combine(dir, name + ".data.safetensors"));
        int batch = data["x"].Shape[0], steps = data["x"].Shape[1];
        IOptimizer opt = optimizer switch
        {
            "adam" => new Adam(),
            "adam_lr" => new Adam(lr: 0.01),
            _ => new Sgd(lr: 0.05, momentum: 0.9),
        };
        var net = new SequenceNetwork(p);
        var grad = ForecasterParameters.CreateLike(p);
        var y = new float[data["target"].Data.Length];
        var dy = new float[y.Length];
        var state = new float[batch * p.Shape.StateSize];
        double worstLoss = 0, worstNorm = 0;
        for (int i = 0; i < 20; i++)
        {
            Array.Clear(state);
            Array.Clear(grad.Arena);
            net.Forward(data["x"].Data, batch, steps, state, y);
            double l = loss == "mse" ? Losses.Mse(y, data["target"].Data, dy) : Losses.Huber(y, data["target"].Data, dy);
            net.Backward(dy, grad);
            if (clip > 0)
            {
                double norm = GradientClipping.ClipByNorm(grad, clip);
                double en = Math.Abs(norm - data["norms"].Data[i]) / Math.Abs(data["norms"].Data[i]);
                worstNorm = Math.Max(worstNorm, en);
                Assert.True(en <= 1e-4, $"step {i}: norm {norm} vs {data["norms"].Data[i]}");
            }
            Assert.True(opt.Step(p, grad));
            double want = data["losses"].Data[i];
            double e = Math.Abs(l - want) / Math.Abs(want);
            worstLoss = Math.Max(worstLoss, e);
            Assert.True(e <= 1e-4, $"{name} step {i}: loss {l} vs PyTorch {want} (relative {e:E3})");
        }
        var final = ModelFile.Load(Path.Combine(dir, name + ".final.safetensors"));
        double ew = PyTorch.ScaledError(p.Arena, final.Arena);
        log.WriteLine($"{name}: worst loss error {worstLoss:E3}, worst clip-norm error {worstNorm:E3}, final weights {ew:E3}");
        Assert.True(ew <= 1e-4, $"final weights differ by {ew:E3}");
        // The losses must have moved, or the comparison proves little.
        Assert.True(data["losses"].Data[19] < data["losses"].Data[0]);
    }

    /// <summary>
    /// Models trained here (LSTM x2, GRU x1, RNN-relu x2, with normalization and free metadata), saved, loaded by PyTorch
    /// with load_state_dict(strict=True), give the same outputs; PyTorch sees every metadata key. One python run for all.
    /// </summary>
    [Fact]
    public void Trained_here_loads_in_pytorch()
    {
        (RnnArch Arch, int Layers)[] cases = [(RnnArch.Lstm, 2), (RnnArch.Gru, 1), (RnnArch.RnnRelu, 2)];
        string dir = Path.Combine(fx.Dir, "roundtrip");
        Directory.CreateDirectory(dir);
        int t = 200;
        var raw = new float[t * 2];
        for (int i = 0; i < t; i++) { raw[2 * i] = 5f + 2f * MathF.Sin(i * 0.2f); raw[2 * i + 1] = -2f + 0.5f * MathF.Cos(i * 0.3f); }
        string xPath = Path.Combine(dir, "x.safetensors");
        using (var fs = File.Create(xPath))
            SafeTensors.Write(fs, [new SafeTensor("x", [t, 2], raw)], new Dictionary<string, string>());
        var args = new List<string>();
        foreach (var (arch, layers) in cases)
        {
            var p = TrainHere(arch, layers);
            string model = Path.Combine(dir, $"{arch}{layers}.safetensors");
            ModelFile.Save(p, model);
            args.AddRange([model, xPath, Path.Combine(dir, $"{arch}{layers}.y.safetensors")]);
        }
        PyTorch.Run("check_roundtrip.py", [.. args]);

        foreach (var (arch, layers) in cases)
        {
            string yPath = Path.Combine(dir, $"{arch}{layers}.y.safetensors");
            var (tensors, meta) = SafeTensors.Read(File.ReadAllBytes(yPath), yPath);
            // edgernn_crc64 is the content checksum every file saved here carries (the reference reader passes it through)
            Assert.Equal("arch,horizon,input_mean,input_std,name,output_mean,output_std",
                string.Join(",", meta["checked_keys"].Split(',').Where(k => k != "edgernn_crc64")));
            var want = tensors.Single(x => x.Name == "y").Data;
            var f = new FloatForecaster(ModelFile.Load(Path.Combine(dir, $"{arch}{layers}.safetensors")));
            var got = new float[t * 3];
            f.Run(raw, got);
            double worst = 0;
            for (int i = 0; i < got.Length; i++) worst = Math.Max(worst, Math.Abs(got[i] - want[i]) / (1 + Math.Abs(want[i])));
            log.WriteLine($"{arch} x{layers}: worst |a-b|/(1+|b|) against PyTorch after the round trip = {worst:E3}");
            Assert.True(worst <= 1e-5, $"{arch} x{layers}: worst {worst:E3}");
        }
    }

    private static ForecasterParameters TrainHere(RnnArch arch, int layers)
    {
        var p = new ForecasterParameters(new ForecasterShape(arch, 2, 12, layers, 3));
        Optimization.InitializeUniform(p, seed: 7);
        p.InputMean = [5f, -2f];
        p.InputStd = [2f, 0.5f];
        p.OutputMean = [1f, 2f, 3f];
        p.OutputStd = [0.5f, 1.5f, 4f];
        p.Metadata["name"] = "roundtrip";
        p.Metadata["horizon"] = "3";
        var before = (float[])p.Arena.Clone();
        // Train a little on a noisy sine so the weights are ours, not the initializer's.
        int batch = 4, steps = 16;
        var rng = new Random(3);
        var x = new float[batch * steps * 2];
        var target = new float[batch * steps * 3];
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Sin(i * 0.1f) + 0.1f * (float)rng.NextDouble();
        for (int i = 0; i < target.Length; i++) target[i] = MathF.Cos(i * 0.07f);
        var net = new SequenceNetwork(p);
        var grad = ForecasterParameters.CreateLike(p);
        var adam = new Adam(lr: 0.01);
        var y = new float[target.Length];
        var dy = new float[target.Length];
        var state = new float[batch * p.Shape.StateSize];
        double first = 0, last = 0;
        for (int i = 0; i < 30; i++)
        {
            Array.Clear(grad.Arena);
            Array.Clear(state);
            net.Forward(x, batch, steps, state, y);
            last = Losses.Mse(y, target, dy);
            if (i == 0) first = last;
            net.Backward(dy, grad);
            GradientClipping.ClipByNorm(grad, 1.0);
            Assert.True(adam.Step(p, grad));
        }
        Assert.True(last < first, $"{arch}: training did not reduce the loss ({first} -> {last})");
        Assert.NotEqual(before, p.Arena);
        return p;
    }
}
