using EdgeRnn.Model.Training;
using Xunit.Abstractions;

namespace EdgeRnn.Model.Tests;

/// <summary>
/// A second witness for backward, independent of PyTorch: central differences of the loss in every parameter, on tiny
/// models with a non-zero initial state. The forward runs in float32, so the step is large (1e-2) and the tolerance is
/// loose enough for float rounding and O(ε²) truncation, yet far below the size of a wrong gradient term.
/// </summary>
public sealed class FiniteDifferenceTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData(RnnArch.Lstm, 1)]
    [InlineData(RnnArch.Lstm, 2)]
    [InlineData(RnnArch.Gru, 1)]
    [InlineData(RnnArch.Gru, 2)]
    [InlineData(RnnArch.RnnTanh, 2)]
    [InlineData(RnnArch.RnnRelu, 2)]
    public void Backward_matches_central_differences(RnnArch arch, int layers)
    {
        var p = new ForecasterParameters(new ForecasterShape(arch, 2, 4, layers, 2));
        Optimization.InitializeUniform(p, 11);
        // Bigger weights than the init so every gate works away from its linear region.
        for (int i = 0; i < p.Arena.Length; i++) p.Arena[i] *= 1.5f;
        int batch = 2, steps = 5;
        var rng = new Random(9);
        float[] Rand(int n, float scale) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale; return a; }
        var x = Rand(batch * steps * 2, 1.5f);
        var target = Rand(batch * steps * 2, 1f);
        var initial = Rand(batch * p.Shape.StateSize, 0.5f);
        var net = new SequenceNetwork(p);
        var y = new float[target.Length];
        var dy = new float[target.Length];

        double Loss()
        {
            var s = (float[])initial.Clone();
            net.Forward(x, batch, steps, s, y);
            return Losses.Huber(y, target, dy, delta: 0.3f);
        }

        Loss();
        var grad = ForecasterParameters.CreateLike(p);
        net.Backward(dy, grad);

        double worst = 0;
        const float Eps = 1e-2f;
        for (int i = 0; i < p.Arena.Length; i++)
        {
            float keep = p.Arena[i];
            p.Arena[i] = keep + Eps;
            double up = Loss();
            p.Arena[i] = keep - Eps;
            double down = Loss();
            p.Arena[i] = keep;
            double numeric = (up - down) / (2 * Eps);
            double err = Math.Abs(numeric - grad.Arena[i]) / (2e-3 + Math.Abs(numeric));
            worst = Math.Max(worst, err);
            Assert.True(err < 0.01, $"{arch} x{layers} parameter {i}: backward {grad.Arena[i]}, central difference {numeric}");
        }
        log.WriteLine($"{arch} x{layers}: worst |fd - bp| / (2e-3 + |fd|) = {worst:E3}");
    }
}
