namespace EdgeRnn.Numerics.Tests;

/// <summary>The float path's sigmoid and tanh: error against double precision, and every width against the scalar form.</summary>
public sealed class FloatMathTests
{
    private static float[] Grid()
    {
        var x = new float[400_001];
        for (int i = 0; i < x.Length; i++) x[i] = -20f + i * 1e-4f;
        return x;
    }

    [Fact]
    public void Tanh_error_is_within_the_stated_bound()
    {
        var x = Grid();
        var y = new float[x.Length];
        FloatMath.Tanh(x, y);
        double max = 0;
        foreach (float v in new[] { 1e-30f, -1e-20f, 1e-8f, 3e-5f, -88f, 88f, 200f, -1000f }) Check(v, FloatMath.Tanh(v));
        for (int i = 0; i < x.Length; i++) Check(x[i], y[i]);
        Assert.True(max > 0, "an approximation that is exact everywhere would mean the test compares a function with itself");

        void Check(float v, float got)
        {
            double want = Math.Tanh(v), err = Math.Abs(got - want) / Math.Max(Math.Abs(want), 1.0 / 1024);
            max = Math.Max(max, err);
            Assert.True(err <= FloatMath.MaxTanhError, $"tanh({v}) = {got}, want {want} (relative error {err:E2})");
        }
    }

    [Fact]
    public void Sigmoid_error_is_within_the_stated_bound()
    {
        var x = Grid();
        var y = new float[x.Length];
        FloatMath.Sigmoid(x, y);
        foreach (float v in new[] { 0f, 1e-30f, -60f, 80f, -86f, 200f }) Check(v, FloatMath.Sigmoid(v));
        for (int i = 0; i < x.Length; i++) Check(x[i], y[i]);
        Assert.Equal(0.5f, FloatMath.Sigmoid(0f));
        Assert.Equal(1f, FloatMath.Sigmoid(1000f));
        Assert.True(FloatMath.Sigmoid(-1000f) is >= 0f and < 1e-37f);

        static void Check(float v, float got)
        {
            double want = 1 / (1 + Math.Exp(-v));
            if (want < 1e-30) return;
            double err = Math.Abs(got - want) / want;
            Assert.True(err <= FloatMath.MaxSigmoidError, $"sigmoid({v}) = {got}, want {want} (relative error {err:E2})");
        }
    }

    /// <summary>Each width (256-bit, 128-bit; the scalar tail) at awkward lengths against the scalar form, which the
    /// grid tests above bound against double precision.</summary>
    [Fact]
    public void Every_width_matches_the_scalar_form()
    {
        bool u256 = FloatKernels.Use256, u128 = FloatKernels.Use128;
        try
        {
            foreach (var (w256, w128) in new[] { (true, true), (false, true), (false, false) })
            {
                FloatKernels.Use256 = w256 && u256;
                FloatKernels.Use128 = w128 && u128;
                foreach (int n in FloatKernelTests.Lengths)
                {
                    var rng = new Random(n);
                    var x = new float[n];
                    for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 24 - 12);
                    if (n > 3) { x[0] = 0f; x[1] = -95f; x[2] = 95f; x[3] = 1e-6f; }
                    var s = new float[n]; var t = new float[n];
                    FloatMath.Sigmoid(x, s);
                    FloatMath.Tanh(x, t);
                    for (int i = 0; i < n; i++)
                    {
                        float ws = FloatMath.Sigmoid(x[i]), wt = FloatMath.Tanh(x[i]);
                        // Vector paths may fuse multiply-adds the scalar form rounds twice: a couple of ulps apart.
                        Assert.True(Math.Abs(s[i] - ws) <= 2.5e-7f * Math.Max(ws, 1e-3f), $"256={w256} 128={w128} n={n} sigmoid({x[i]}): {s[i]} vs {ws}");
                        Assert.True(Math.Abs(t[i] - wt) <= 2.5e-7f * Math.Max(Math.Abs(wt), 1e-3f), $"256={w256} 128={w128} n={n} tanh({x[i]}): {t[i]} vs {wt}");
                    }
                }
            }
        }
        finally { FloatKernels.Use256 = u256; FloatKernels.Use128 = u128; }
    }
}
