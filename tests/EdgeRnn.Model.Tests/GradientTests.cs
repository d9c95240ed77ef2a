using EdgeRnn.Model.Training;
using Xunit.Abstractions;

namespace EdgeRnn.Model.Tests;

[Collection("torch")]
public sealed class GradientTests(TorchFixtures fx, ITestOutputHelper log)
{
    public static TheoryData<string> Cases => new()
    {
        "lstm_l1", "lstm_l2", "gru_l1", "gru_l2", "rnn_tanh_l1", "rnn_tanh_l2", "rnn_relu_l1", "rnn_relu_l2",
    };

    /// <summary>
    /// Two truncated-BPTT windows: the first from zero state, the second from the first's final state (detached).
    /// Every parameter gradient of both windows against PyTorch autograd.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradients_match_pytorch_over_two_windows(string name)
    {
        string dir = Path.Combine(fx.Dir, "grad");
        var p = ModelFile.Load(Path.Combine(dir, name + ".safetensors"));
        var data = PyTorch.ReadTensors(Path.Combine(dir, name + ".data.safetensors"));
        int batch = data["x"].Shape[0], total = data["x"].Shape[1], inSize = data["x"].Shape[2], outSize = data["target"].Shape[2];
        int steps = total / 2;
        var net = new SequenceNetwork(p);
        var state = new float[batch * p.Shape.StateSize];
        double worst = 0;
        for (int w = 0; w < 2; w++)
        {
            var x = Window(data["x"].Data, batch, total, inSize, w * steps, steps);
            var target = Window(data["target"].Data, batch, total, outSize, w * steps, steps);
            var y = new float[batch * steps * outSize];
            var dy = new float[y.Length];
            net.Forward(x, batch, steps, state, y);
            double loss = Losses.Mse(y, target, dy);
            Assert.True(Math.Abs(loss - data["loss"].Data[w]) <= 1e-5 * (1 + Math.Abs(data["loss"].Data[w])), $"window {w + 1} loss {loss} vs {data["loss"].Data[w]}");
            var grad = ForecasterParameters.CreateLike(p);
            net.Backward(dy, grad);
            var want = ModelFile.Load(Path.Combine(dir, $"{name}.grad{w + 1}.safetensors"));
            foreach (var t in p.Tensors)
            {
                double e = PyTorch.ScaledError(grad.Arena.AsSpan(t.Offset, t.Length), want.Arena.AsSpan(t.Offset, t.Length));
                worst = Math.Max(worst, e);
                Assert.True(e <= 1e-4, $"{name} window {w + 1} {t.Name}: error {e:E3} relative to the tensor's largest gradient");
            }
        }
        log.WriteLine($"{name}: worst gradient error (max|a-b| / max|b| per tensor) = {worst:E3}");
    }

    internal static float[] Window(float[] all, int batch, int total, int width, int start, int steps)
    {
        var r = new float[batch * steps * width];
        for (int b = 0; b < batch; b++)
            Array.Copy(all, (b * total + start) * width, r, b * steps * width, steps * width);
        return r;
    }
}
