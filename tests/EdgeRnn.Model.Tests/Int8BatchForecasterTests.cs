using EdgeRnn.Model.Quantized;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Model.Tests;

public class Int8BatchForecasterTests
{
    private static ForecasterParameters Model(RnnArch arch, int input, int hidden, int layers, int output, int seed)
    {
        var p = new ForecasterParameters(new ForecasterShape(arch, input, hidden, layers, output));
        var rng = new Random(seed);
        float bound = 2f / MathF.Sqrt(hidden);
        for (int i = 0; i < p.Arena.Length; i++) p.Arena[i] = (float)(rng.NextDouble() * 2 - 1) * bound;
        return p;
    }

    /// <summary>Stream b's inputs at step t: its own scale (0.01 .. 100) and offset, so every stream quantizes differently.</summary>
    private static float Input(int b, int t, int j) => (MathF.Sin(0.07f * t * (j + 1) + b) + 0.3f * b) * MathF.Pow(10f, b % 5 - 2);

    public static TheoryData<string, string> Cases()
    {
        var d = new TheoryData<string, string>();
        foreach (var arch in new[] { "lstm", "gru", "rnn_tanh", "rnn_relu" }) d.Add(arch, Int8Kernels.ActivePath.Name);
        foreach (var p in Int8Kernels.SupportedPaths) if (p != Int8Kernels.ActivePath) d.Add("gru", p.Name);
        return d;
    }

    /// <summary>
    /// Stream b of the batch gives bit-identical outputs to its own single-stream Int8Forecaster fed the same inputs, whichever
    /// streams step together: all of them, a subset in shuffled order, or one alone (chunks of 8, tiles of 4 and their tails).
    /// </summary>
    [Theory, MemberData(nameof(Cases))]
    public void EachStreamMatchesASingleStreamForecasterBitForBit(string archName, string path)
    {
        var arch = archName switch { "lstm" => RnnArch.Lstm, "gru" => RnnArch.Gru, "rnn_tanh" => RnnArch.RnnTanh, _ => RnnArch.RnnRelu };
        var kp = KernelPath.Find(path)!;
        foreach (var (input, hidden, layers, output) in new[] { (3, 24, 2, 5), (1, 13, 1, 1), (8, 64, 1, 24) })
        {
            var p = Model(arch, input, hidden, layers, output, seed: hidden);
            const int n = 19;
            var batch = new Int8Forecaster.Batch(p, n, kp, Int8Forecaster.EpilogueLanes.Auto);
            var singles = Enumerable.Range(0, n).Select(_ => new Int8Forecaster(p, kp.Kernels)).ToArray();
            var rng = new Random(5);
            var want = new float[output];
            for (int t = 0; t < 30; t++)
            {
                int[] ids = (t % 3) switch
                {
                    0 => Enumerable.Range(0, n).ToArray(),
                    1 => Enumerable.Range(0, n).Where(_ => rng.Next(3) > 0).OrderBy(_ => rng.Next()).ToArray(),
                    _ => [rng.Next(n)],
                };
                var x = new float[ids.Length * input];
                for (int i = 0; i < ids.Length; i++) for (int j = 0; j < input; j++) x[i * input + j] = Input(ids[i], t, j);
                var y = new float[ids.Length * output];
                batch.Step(ids, x, y);
                for (int i = 0; i < ids.Length; i++)
                {
                    singles[ids[i]].Step(x.AsSpan(i * input, input), want);
                    for (int o = 0; o < output; o++)
                        Assert.True(BitConverter.SingleToInt32Bits(want[o]) == BitConverter.SingleToInt32Bits(y[i * output + o]),
                            $"{archName} {path} {input}-{hidden}x{layers}-{output}: step {t}, stream {ids[i]}, output {o}: {y[i * output + o]:R} vs single {want[o]:R}");
                }
            }
            // the state matches too, and moves between the two
            var a = new float[p.Shape.StateSize];
            var b = new float[p.Shape.StateSize];
            for (int s = 0; s < n; s++)
            {
                batch.GetState(s, a);
                singles[s].GetState(b);
                Assert.Equal(b, a);
            }
        }
    }

    [Fact]
    public void StateRoundTripResetAndSingleStreamStateReproduceOutputs()
    {
        var p = Model(RnnArch.Lstm, 4, 32, 2, 3, seed: 1);
        var batch = new Int8Forecaster.Batch(p, 3);
        var single = new Int8Forecaster(p);
        var x = new float[12];
        var y = new float[9];
        for (int t = 0; t < 10; t++)
        {
            for (int i = 0; i < 12; i++) x[i] = Input(i / 4, t, i % 4);
            batch.StepAll(x, y);
        }
        // stream 1's state handed to a single-stream forecaster continues identically
        var s1 = new float[batch.StateSize];
        batch.GetState(1, s1);
        single.SetState(s1);
        var want = new float[3];
        single.Step(x.AsSpan(4, 4), want);
        batch.Step([1], x.AsSpan(4, 4), y.AsSpan(0, 3));
        Assert.Equal(want, y[..3]);
        // set back and step again: the same outputs
        batch.SetState(1, s1);
        batch.Step([1], x.AsSpan(4, 4), y.AsSpan(0, 3));
        Assert.Equal(want, y[..3]);
        // reset = a fresh stream
        batch.Reset(2);
        var fresh = new Int8Forecaster(p);
        fresh.Step(x.AsSpan(8, 4), want);
        batch.Step([2], x.AsSpan(8, 4), y.AsSpan(0, 3));
        Assert.Equal(want, y[..3]);
    }

    [Fact]
    public void BadCallsAreRejected()
    {
        var p = Model(RnnArch.Gru, 2, 16, 1, 1, seed: 3);
        var batch = new Int8Forecaster.Batch(p, 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Int8Forecaster.Batch(p, 0));
        Assert.Throws<ArgumentException>(() => batch.Step([1, 1], new float[4], new float[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.Step([4], new float[2], new float[1]));
        Assert.Throws<ArgumentException>(() => batch.Step([0, 1], new float[3], new float[2]));
        Assert.Throws<ArgumentException>(() => batch.Step([0], [1f, float.NaN], new float[1]));
        Assert.Throws<ArgumentException>(() => batch.SetState(0, new float[batch.StateSize - 1]));

        // a refused input in the second chunk: no stream of the call was stepped
        var many = new Int8Forecaster.Batch(p, 12);
        var x = new float[24];
        for (int i = 0; i < 24; i++) x[i] = Input(i / 2, 0, i % 2);
        many.StepAll(x, new float[12]);
        var before = new float[many.StateSize];
        many.GetState(0, before);
        x[21] = float.NaN;
        Assert.Throws<ArgumentException>(() => many.StepAll(x, new float[12]));
        var after = new float[many.StateSize];
        many.GetState(0, after);
        Assert.Equal(before, after);
    }

    [Fact]
    public void StepAllocatesNothing()
    {
        var p = Model(RnnArch.Lstm, 8, 64, 2, 24, seed: 2);
        var batch = new Int8Forecaster.Batch(p, 21);
        var x = new float[21 * 8];
        var y = new float[21 * 24];
        int[] some = [3, 17, 4, 9, 0];
        for (int round = 0; round < 3; round++)
            for (int t = 0; t < 100; t++)
            {
                for (int i = 0; i < x.Length; i++) x[i] = Input(i / 8, t, i % 8);
                batch.StepAll(x, y);
                batch.Step(some, x.AsSpan(0, 40), y);
            }
        Thread.Sleep(100);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int t = 0; t < 100; t++)
        {
            batch.StepAll(x, y);
            batch.Step(some, x.AsSpan(0, 40), y);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
