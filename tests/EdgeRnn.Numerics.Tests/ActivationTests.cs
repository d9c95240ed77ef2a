using EdgeRnn.Numerics;

namespace EdgeRnn.Numerics.Tests;

public class ActivationTests
{
    private static float[] Grid()
    {
        var x = new float[400_001];
        for (int i = 0; i < x.Length; i++) x[i] = -20f + i * 1e-4f;
        return x;
    }

    [Fact]
    public void TanhMaximumErrorIsWithinTheStatedBound()
    {
        var x = Grid();
        var y = new float[x.Length];
        Activations.Tanh(x, y);
        double max = 0;
        for (int i = 0; i < x.Length; i++) max = Math.Max(max, Math.Abs(y[i] - Math.Tanh(x[i])));
        Assert.True(max <= Activations.MaxTanhError, $"max |tanh error| = {max:E3}");
        Assert.True(max > 0, "an approximation that is exact everywhere would mean the test compares a function with itself");
    }

    [Fact]
    public void SigmoidMaximumErrorIsWithinTheStatedBound()
    {
        var x = Grid();
        var y = new float[x.Length];
        Activations.Sigmoid(x, y);
        double max = 0;
        for (int i = 0; i < x.Length; i++) max = Math.Max(max, Math.Abs(y[i] - 1 / (1 + Math.Exp(-x[i]))));
        Assert.True(max <= Activations.MaxSigmoidError, $"max |sigmoid error| = {max:E3}");
    }

    [Fact]
    public void VectorPassEqualsScalarFormulaBitForBitAtEveryLength()
    {
        var rng = new Random(3);
        for (int n = 0; n <= 67; n++)
        {
            var x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 24 - 12)).ToArray();
            var t = new float[n];
            var s = new float[n];
            Activations.Tanh(x, t);
            Activations.Sigmoid(x, s);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(Activations.Tanh(x[i])), BitConverter.SingleToInt32Bits(t[i]));
                Assert.Equal(BitConverter.SingleToInt32Bits(Activations.Sigmoid(x[i])), BitConverter.SingleToInt32Bits(s[i]));
            }
        }
    }

    [Fact]
    public void TanhIsOddAndBounded()
    {
        foreach (float v in new[] { 0f, 1e-6f, 0.3f, 2f, 7.9f, 50f, 1e30f })
        {
            Assert.Equal(-Activations.Tanh(v), Activations.Tanh(-v));
            Assert.InRange(Activations.Tanh(v), -1f, 1f);
        }
    }
}
