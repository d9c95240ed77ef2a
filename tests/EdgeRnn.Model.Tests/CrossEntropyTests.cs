using EdgeRnn.Model.Quantized;
using EdgeRnn.Model.Text;
using EdgeRnn.Model.Training;
using Xunit.Abstractions;

namespace EdgeRnn.Model.Tests;

/// <summary>The softmax head and cross-entropy loss against PyTorch (fixtures: make_fixtures.py ce).</summary>
[Collection("torch")]
public sealed class CrossEntropyTests(TorchFixtures fx, ITestOutputHelper log)
{
    public static TheoryData<string> Cases => new()
    {
        "lstm_l1", "lstm_l2", "gru_l1", "gru_l2", "rnn_tanh_l1", "rnn_tanh_l2", "rnn_relu_l1", "rnn_relu_l2",
    };

    /// <summary>
    /// One-hot inputs, class targets, nn.functional.cross_entropy over two truncated-BPTT windows (the second from the
    /// first's final state, detached): the loss and every parameter gradient of both windows against PyTorch autograd.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Cross_entropy_gradients_match_pytorch_over_two_windows(string name)
    {
        string dir = Path.Combine(fx.Dir, "ce");
        var p = ModelFile.Load(Path.Combine(dir, name + ".safetensors"));
        Assert.Equal(OutputActivation.Softmax, OutputHead.Activation(p));
        var data = PyTorch.ReadTensors(Path.Combine(dir, name + ".data.safetensors"));
        int batch = data["x"].Shape[0], total = data["x"].Shape[1], classes = data["x"].Shape[2];
        int steps = total / 2;
        var net = new SequenceNetwork(p);
        var state = new float[batch * p.Shape.StateSize];
        double worst = 0;
        for (int w = 0; w < 2; w++)
        {
            var x = GradientTests.Window(data["x"].Data, batch, total, classes, w * steps, steps);
            var targets = GradientTests.Window(data["target"].Data, batch, total, 1, w * steps, steps).Select(v => (int)v).ToArray();
            var y = new float[batch * steps * classes];
            var dy = new float[y.Length];
            net.Forward(x, batch, steps, state, y);
            double loss = Losses.SoftmaxCrossEntropy(y, targets, classes, dy);
            double want = data["loss"].Data[w];
            Assert.True(Math.Abs(loss - want) <= 1e-5 * Math.Abs(want), $"window {w + 1} loss {loss} vs PyTorch {want}");
            var grad = ForecasterParameters.CreateLike(p);
            net.Backward(dy, grad);
            var expected = ModelFile.Load(Path.Combine(dir, $"{name}.grad{w + 1}.safetensors"));
            foreach (var t in p.Tensors)
            {
                double e = PyTorch.ScaledError(grad.Arena.AsSpan(t.Offset, t.Length), expected.Arena.AsSpan(t.Offset, t.Length));
                worst = Math.Max(worst, e);
                Assert.True(e <= 1e-4, $"{name} window {w + 1} {t.Name}: error {e:E3} relative to the tensor's largest gradient");
            }
        }
        log.WriteLine($"{name}: worst cross-entropy gradient error (max|a-b| / max|b| per tensor) = {worst:E3}");
    }

    [Fact]
    public void Cross_entropy_is_stable_for_huge_logits_and_skips_ignored_rows()
    {
        // Row 0: logits ±1000 (exp overflows without the max subtracted); row 1 ignored (-1); row 2: equal logits.
        float[] z = [1000f, -1000f, 0f, 5f, 6f, 7f, 2f, 2f, 2f];
        int[] t = [1, -1, 0];
        var g = new float[z.Length];
        double loss = Losses.SoftmaxCrossEntropy(z, t, 3, g);
        // row 0: lse = 1000, loss = 2000; row 2: log 3; mean over the 2 counted rows
        Assert.Equal((2000 + Math.Log(3)) / 2, loss, 1e-3);
        Assert.All(g, v => Assert.True(float.IsFinite(v)));
        Assert.Equal([0.5f, -0.5f, 0f], g[..3]);
        Assert.Equal([0f, 0f, 0f], g[3..6]);
        Assert.Equal(-1f / 3f, g[6], 1e-6f);
        Assert.Equal(1f / 6f, g[7], 1e-6f);
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.SoftmaxCrossEntropy(z, [3, 0, 0], 3, g));
    }

    [Fact]
    public void Softmax_is_stable_and_sums_to_one()
    {
        float[] z = [1000f, 999f, -1000f, 0f];
        OutputHead.Softmax(z);
        Assert.All(z, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(1.0, z.Sum(), 1e-6);
        Assert.Equal(1 / (1 + Math.Exp(-1)), z[0], 1e-6);
        Assert.Equal(0f, z[2]);
    }

    /// <summary>
    /// A character model trained here (a few updates on a short text), saved, loaded in PyTorch by the reference module
    /// (check_roundtrip.py: load_state_dict(strict=True), then the file's output_activation): the same probabilities
    /// within 1e-5; and the int8 forecaster's loss on that text within 2% of float32's.
    /// </summary>
    [Fact]
    public void Character_model_trained_here_loads_in_pytorch_with_softmax()
    {
        string text = string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs!\n", 30));
        var vocab = CharVocab.FromText(text);
        int[] ids = vocab.Encode(text, "text");
        var (train, val) = CharTrainer.Split(ids);
        var o = new CharTrainOptions { Hidden = 16, Batch = 4, SeqLength = 16, Updates = 40, LearningRate = 1e-2, EvalEvery = 40, LogEvery = 40 };
        var p = CharTrainer.NewModel(vocab, o);
        var progress = new StringWriter();
        var rep = CharTrainer.Train(p, train, val, o, progress);
        log.WriteLine(progress.ToString());
        Assert.True(rep.ValLoss < Math.Log(vocab.Count) - 0.5, $"val loss {rep.ValLoss} is not below uniform ({Math.Log(vocab.Count)})");

        string dir = Path.Combine(fx.Dir, "charroundtrip");
        Directory.CreateDirectory(dir);
        string model = Path.Combine(dir, "char.safetensors"), xPath = Path.Combine(dir, "x.safetensors"), yPath = Path.Combine(dir, "y.safetensors");
        ModelFile.Save(p, model);
        int steps = 120, v = vocab.Count;
        var x = new float[steps * v];
        for (int i = 0; i < steps; i++) x[i * v + ids[i]] = 1f;
        using (var fs = File.Create(xPath))
            SafeTensors.Write(fs, [new SafeTensor("x", [steps, v], x)], new Dictionary<string, string>());
        PyTorch.Run("check_roundtrip.py", model, xPath, yPath);
        var (tensors, meta) = SafeTensors.Read(File.ReadAllBytes(yPath), yPath);
        Assert.Contains("output_activation", meta["checked_keys"].Split(','));
        Assert.Contains("vocab", meta["checked_keys"].Split(','));
        var want = tensors.Single(t => t.Name == "y").Data;
        var loaded = ModelFile.Load(model);
        Assert.Equal(vocab.Tokens, CharVocab.FromModel(loaded, model).Tokens);
        var got = new float[steps * v];
        new FloatForecaster(loaded).Run(x, got);
        double worst = 0;
        for (int i = 0; i < got.Length; i++) worst = Math.Max(worst, Math.Abs(got[i] - want[i]));
        log.WriteLine($"softmax probabilities against PyTorch after the round trip: worst |a-b| = {worst:E3}");
        Assert.True(worst <= 1e-5, $"worst {worst:E3}");
        for (int t = 0; t < steps; t++) Assert.Equal(1.0, got.AsSpan(t * v, v).ToArray().Sum(), 1e-5);

        double lf = CharTrainer.StreamingLoss(new FloatForecaster(loaded), val);
        double lq = CharTrainer.StreamingLoss(new Int8Forecaster(loaded), val);
        log.WriteLine($"streaming validation loss: float32 {lf:F5}, int8 {lq:F5} nats/char");
        Assert.True(Math.Abs(lq - lf) <= 0.02 * lf, $"int8 {lq} vs float32 {lf}");
    }
}

public sealed class TextSamplerTests
{
    [Fact]
    public void Pcg32_gives_the_reference_sequence()
    {
        // pcg32-demo (O'Neill's pcg-c-basic): pcg32_srandom_r(&rng, 42u, 54u), then pcg32_random_r.
        var rng = new Pcg32(42, 54);
        uint[] want = [0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e];
        foreach (uint w in want) Assert.Equal(w, rng.NextUInt());
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1e-300)]
    [InlineData(-0.3465)]
    [InlineData(-0.5)]
    [InlineData(-1.0)]
    [InlineData(-3.7)]
    [InlineData(-20.25)]
    [InlineData(-87.3)]
    [InlineData(-700.0)]
    public void Exp_matches_the_runtime_to_a_few_ulps(double x)
    {
        double got = TextSampler.Exp(x), want = Math.Exp(x);
        Assert.True(Math.Abs(got - want) <= 4e-16 * want, $"exp({x}) = {got:R}, runtime {want:R}");
    }

    [Fact]
    public void Sampling_is_deterministic_for_a_seed_and_respects_top_k_and_temperature()
    {
        float[] z = [0.5f, 2f, -1f, 2f, 1.5f];
        int[] Draw(double temp, int k, ulong seed, int n)
        {
            var s = new TextSampler(z.Length, temp, k, seed);
            return Enumerable.Range(0, n).Select(_ => s.Sample(z)).ToArray();
        }
        Assert.Equal(Draw(1, 0, 7, 200), Draw(1, 0, 7, 200));
        Assert.NotEqual(Draw(1, 0, 7, 200), Draw(1, 0, 8, 200));
        // top-1 with a tie: the lower index
        Assert.All(Draw(1, 1, 3, 50), i => Assert.Equal(1, i));
        // top-3 keeps indices 1, 3 (logit 2) and 4 (1.5)
        Assert.All(Draw(1, 3, 3, 500), i => Assert.Contains(i, new[] { 1, 3, 4 }));
        // frequencies follow softmax(z / T) (T = 2 here): 20000 draws, within 0.015 of the probability
        var counts = new int[z.Length];
        foreach (int i in Draw(2, 0, 11, 20000)) counts[i]++;
        double[] e = z.Select(v => Math.Exp(v / 2.0)).ToArray();
        for (int i = 0; i < z.Length; i++) Assert.Equal(e[i] / e.Sum(), counts[i] / 20000.0, 0.015);
    }
}
