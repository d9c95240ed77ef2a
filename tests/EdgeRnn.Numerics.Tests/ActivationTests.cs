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

    public static TheoryData<string> LaneWidths() => new() { nameof(Width256), nameof(Lanes128x2) };

    /// <summary>Both lane widths run here whatever the CPU (an unaccelerated width runs in software, still IEEE-exact),
    /// so the x64 width and the ARM64 width are each checked against the scalar form bit for bit.</summary>
    [Theory, MemberData(nameof(LaneWidths))]
    public void VectorPassEqualsScalarFormulaBitForBitAtEveryLength(string width)
    {
        var rng = new Random(3);
        for (int n = 0; n <= 67; n++)
        {
            var x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 24 - 12)).ToArray();
            var t = new float[n];
            var s = new float[n];
            if (width == nameof(Width256)) { Activations.Tanh<Width256>(x, t); Activations.Sigmoid<Width256>(x, s); }
            else { Activations.Tanh<Lanes128x2>(x, t); Activations.Sigmoid<Lanes128x2>(x, s); }
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(Activations.Tanh(x[i])), BitConverter.SingleToInt32Bits(t[i]));
                Assert.Equal(BitConverter.SingleToInt32Bits(Activations.Sigmoid(x[i])), BitConverter.SingleToInt32Bits(s[i]));
            }
        }
    }

    [Theory, MemberData(nameof(LaneWidths))]
    public void FourChainTanhEqualsScalarFormulaBitForBit(string width)
    {
        var rng = new Random(5);
        var x = Enumerable.Range(0, 32 * 40).Select(i => i < 32 ? (i - 16) * 0.5f : (float)(rng.NextDouble() * 16 - 8)).ToArray();
        var y = new float[x.Length];
        if (width == nameof(Width256)) Run<Width256>(x, y); else Run<Lanes128x2>(x, y);
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(Activations.Tanh(x[i])), BitConverter.SingleToInt32Bits(y[i]));

        static void Run<V>(float[] x, float[] y) where V : struct, ILanes8<V>
        {
            for (int k = 0; k < x.Length; k += 32)
            {
                V a = V.Load(ref x[k], 0), b = V.Load(ref x[k], 8), c = V.Load(ref x[k], 16), d = V.Load(ref x[k], 24);
                Activations.Tanh4(ref a, ref b, ref c, ref d);
                V.Store(a, ref y[k], 0); V.Store(b, ref y[k], 8); V.Store(c, ref y[k], 16); V.Store(d, ref y[k], 24);
            }
        }
    }

    [Theory, MemberData(nameof(LaneWidths))]
    public void Int8StoreRoundsHalfToEvenAndClampsLikeTheScalarQuantizer(string width)
    {
        var v = new float[] { 0.5f / 127, 1.5f / 127, -0.5f / 127, -2.5f / 127, 1f, -1f, 1.2f, -7f };
        var got = new sbyte[8];
        if (width == nameof(Width256)) Width256.StoreInt8(Width256.Load(ref v[0], 0), Width256.Splat(127f), ref got[0], 0);
        else Lanes128x2.StoreInt8(Lanes128x2.Load(ref v[0], 0), Lanes128x2.Splat(127f), ref got[0], 0);
        for (int i = 0; i < v.Length; i++) Assert.Equal(EdgeRnn.Numerics.Int8.Int8Quantize.QuantizeOne(v[i], 127f), got[i]);
        Assert.Equal(new sbyte[] { 0, 2, 0, -2, 127, -127, 127, -127 }, got);
    }

    /// <summary>Min, max and sum across the eight lanes, with the extreme in every lane in turn, against the scalar
    /// lanes; a NaN lane makes the sum NaN (the int8 epilogue's check for a non-finite h relies on it).</summary>
    [Theory, MemberData(nameof(LaneWidths))]
    public void AcrossLaneReductionsEqualTheScalarReference(string width)
    {
        var rng = new Random(9);
        for (int trial = 0; trial < 64; trial++)
        {
            var v = Enumerable.Range(0, 8).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray();
            v[trial % 8] = trial % 16 < 8 ? -1e6f : 1e6f;
            var (min, max, sum) = width == nameof(Width256) ? Reduce<Width256>(v) : Reduce<Lanes128x2>(v);
            var want = Reduce<LanesScalar>(v);
            Assert.Equal(v.Min(), want.Min);
            Assert.Equal(v.Max(), want.Max);
            Assert.Equal(want.Min, min);
            Assert.Equal(want.Max, max);
            Assert.True(Math.Abs(want.Sum - sum) <= 1e-6f * 8e6f, $"sum {sum} vs {want.Sum}");
        }
        var nan = new float[] { 1, 2, 3, float.NaN, 5, 6, 7, 8 };
        Assert.True(float.IsNaN((width == nameof(Width256) ? Reduce<Width256>(nan) : Reduce<Lanes128x2>(nan)).Sum));
        Assert.True(float.IsNaN(Reduce<LanesScalar>(nan).Sum));

        static (float Min, float Max, float Sum) Reduce<V>(float[] v) where V : struct, ILanes8<V>
        {
            var x = V.Load(ref v[0], 0);
            return (V.MinAcross(x), V.MaxAcross(x), V.Sum(x));
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
