using EdgeRnn.Model.Training;

namespace EdgeRnn.Model.Tests;

public sealed class ForecasterTests
{
    public static TheoryData<RnnArch, int> Archs()
    {
        var d = new TheoryData<RnnArch, int>();
        foreach (var a in Enum.GetValues<RnnArch>()) { d.Add(a, 1); d.Add(a, 2); }
        return d;
    }

    private static ForecasterParameters Make(RnnArch arch, int layers, int hidden = 13, bool norm = true)
    {
        var p = new ForecasterParameters(new ForecasterShape(arch, 3, hidden, layers, 2));
        Optimization.InitializeUniform(p, 42 + layers);
        if (norm)
        {
            p.InputMean = [1f, 2f, 3f];
            p.InputStd = [0.5f, 2f, 1f];
            p.OutputMean = [-1f, 1f];
            p.OutputStd = [3f, 0.1f];
        }
        return p;
    }

    private static float[] Inputs(int steps, int width, int seed)
    {
        var rng = new Random(seed);
        var x = new float[steps * width];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 4 - 2);
        return x;
    }

    [Theory]
    [MemberData(nameof(Archs))]
    public void Step_allocates_nothing_after_warm_up(RnnArch arch, int layers)
    {
        var f = new FloatForecaster(Make(arch, layers, hidden: 64));
        var x = Inputs(100, 3, 1);
        var y = new float[2];
        var state = new float[f.StateSize];
        for (int t = 0; t < 10; t++) f.Step(x.AsSpan(3 * t, 3), y);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int t = 0; t < 100; t++)
        {
            f.Step(x.AsSpan(3 * t, 3), y);
            if (t == 50) { f.GetState(state); f.Reset(); f.SetState(state); }
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(float.IsFinite(y[0]) && float.IsFinite(y[1]));
    }

    [Theory]
    [MemberData(nameof(Archs))]
    public void Training_window_allocates_nothing_once_sized(RnnArch arch, int layers)
    {
        var p = Make(arch, layers, norm: false);
        var net = new SequenceNetwork(p);
        var grad = ForecasterParameters.CreateLike(p);
        int b = 4, t = 8;
        var x = Inputs(b * t, 3, 2);
        var y = new float[b * t * 2];
        var dy = new float[y.Length];
        var target = new float[y.Length];
        var state = new float[b * p.Shape.StateSize];
        var adam = new Adam();
        void Once()
        {
            net.Forward(x, b, t, state, y);
            Losses.Mse(y, target, dy);
            net.Backward(dy, grad);
            GradientClipping.ClipByNorm(grad, 1.0);
            adam.Step(p, grad);
        }
        Once();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Once();
        Once();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [MemberData(nameof(Archs))]
    public void State_get_set_and_reset(RnnArch arch, int layers)
    {
        var p = Make(arch, layers);
        var f = new FloatForecaster(p);
        Assert.Equal(layers * 13 * (arch == RnnArch.Lstm ? 2 : 1), f.StateSize);
        var x = Inputs(30, 3, 3);
        var y = new float[2];
        for (int t = 0; t < 10; t++) f.Step(x.AsSpan(3 * t, 3), y);
        var saved = new float[f.StateSize];
        f.GetState(saved);
        Assert.Contains(saved, v => v != 0f);
        var first = new float[20 * 2];
        f.Run(x.AsSpan(30, 60), first);
        f.SetState(saved);
        var again = new float[20 * 2];
        f.Run(x.AsSpan(30, 60), again);
        Assert.Equal(first, again);

        var fresh = new FloatForecaster(p);
        var a = new float[30 * 2];
        var b = new float[30 * 2];
        fresh.Run(x, a);
        f.Reset();
        f.Run(x, b);
        Assert.Equal(a, b);
        Assert.Throws<ArgumentException>(() => f.SetState(new float[f.StateSize + 1]));
    }

    /// <summary>
    /// The streaming step, the batched network and the batched network over two windows with the state carried all give
    /// the same outputs: the step's state layout is the network's, and batch rows do not interact.
    /// </summary>
    [Theory]
    [MemberData(nameof(Archs))]
    public void Streaming_batched_and_windowed_agree(RnnArch arch, int layers)
    {
        var p = Make(arch, layers, norm: false);
        int batch = 3, steps = 12, ss = p.Shape.StateSize;
        var x = Inputs(batch * steps, 3, 5);
        var expected = new float[batch * steps * 2];
        var finalStates = new float[batch * ss];
        for (int b = 0; b < batch; b++)
        {
            var f = new FloatForecaster(p);
            f.Run(x.AsSpan(b * steps * 3, steps * 3), expected.AsSpan(b * steps * 2, steps * 2));
            f.GetState(finalStates.AsSpan(b * ss, ss));
        }

        var net = new SequenceNetwork(p);
        var state = new float[batch * ss];
        var y = new float[expected.Length];
        net.Forward(x, batch, steps, state, y);
        AssertClose(expected, y);
        AssertClose(finalStates, state);

        // Two windows of 5 and 7 steps, the state carried.
        Array.Clear(state);
        var y1 = new float[batch * 5 * 2];
        var y2 = new float[batch * 7 * 2];
        net.Forward(GradientTests.Window(x, batch, steps, 3, 0, 5), batch, 5, state, y1);
        net.Forward(GradientTests.Window(x, batch, steps, 3, 5, 7), batch, 7, state, y2);
        AssertClose(GradientTests.Window(expected, batch, steps, 2, 0, 5), y1);
        AssertClose(GradientTests.Window(expected, batch, steps, 2, 5, 7), y2);
        AssertClose(finalStates, state);
    }

    private static void AssertClose(float[] want, float[] got)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) <= 1e-6f * (1 + Math.Abs(want[i])), $"element {i}: {got[i]} vs {want[i]}");
    }

    [Fact]
    public void Training_is_deterministic_given_a_seed()
    {
        float[] Train(int seed)
        {
            var p = new ForecasterParameters(new ForecasterShape(RnnArch.Lstm, 3, 9, 2, 2));
            Optimization.InitializeUniform(p, seed);
            var net = new SequenceNetwork(p);
            var grad = ForecasterParameters.CreateLike(p);
            var adam = new Adam(lr: 0.01);
            int b = 3, t = 10;
            var x = Inputs(b * t, 3, 8);
            var target = Inputs(b * t, 2, 9);
            var y = new float[target.Length];
            var dy = new float[target.Length];
            var state = new float[b * p.Shape.StateSize];
            for (int i = 0; i < 5; i++)
            {
                // Truncated BPTT: the state runs on from window to window.
                Array.Clear(grad.Arena);
                net.Forward(x, b, t, state, y);
                Losses.Huber(y, target, dy);
                net.Backward(dy, grad);
                GradientClipping.ClipByNorm(grad, 0.5);
                Assert.True(adam.Step(p, grad));
            }
            return p.Arena;
        }
        Assert.Equal(Train(1), Train(1));
        Assert.NotEqual(Train(1), Train(2));
    }

    [Fact]
    public void Optimizers_refuse_non_finite_gradients()
    {
        var p = Make(RnnArch.Gru, 1, norm: false);
        var before = (float[])p.Arena.Clone();
        var grad = ForecasterParameters.CreateLike(p);
        grad.Arena[5] = float.NaN;
        Assert.False(new Adam().Step(p, grad));
        Assert.False(new Sgd(0.1, momentum: 0.9).Step(p, grad));
        Assert.True(double.IsNaN(GradientClipping.ClipByNorm(grad, 1.0)));
        Assert.Equal(before, p.Arena);
    }

    [Fact]
    public void Losses_skip_missing_targets()
    {
        float[] y = [1f, 2f, 3f, 4f];
        float[] t = [0f, float.NaN, 3f, 2f];
        var g = new float[4];
        // (1 + 0 + 4) / 3 finite targets
        Assert.Equal(5.0 / 3, Losses.Mse(y, t, g), 12);
        Assert.Equal([2f / 3, 0f, 0f, 4f / 3], g);
        // Huber δ=1: 0.5·1² → 0.5 is not < 1 boundary: |1| is not < 1 so δ(|d| − δ/2) = 0.5; |2| → 1.5
        Assert.Equal((0.5 + 0 + 1.5) / 3, Losses.Huber(y, t, g), 12);
        Assert.Equal([1f / 3, 0f, 0f, 1f / 3], g);
    }

    [Fact]
    public void Normalization_is_applied_on_both_sides()
    {
        var p = Make(RnnArch.Gru, 1, norm: false);
        var raw = new FloatForecaster(p);
        var q = p.Clone();
        q.InputMean = [1f, 2f, 3f];
        q.InputStd = [2f, 4f, 0.5f];
        q.OutputMean = [10f, -10f];
        q.OutputStd = [3f, 0.5f];
        var normed = new FloatForecaster(q);
        float[] x = [3f, -2f, 3.25f];
        float[] xn = [(3f - 1f) / 2f, (-2f - 2f) / 4f, (3.25f - 3f) / 0.5f];
        var y = new float[2];
        var yn = new float[2];
        raw.Step(xn, y);
        normed.Step(x, yn);
        Assert.Equal(y[0] * 3f + 10f, yn[0], 5);
        Assert.Equal(y[1] * 0.5f - 10f, yn[1], 5);
    }

    [Fact]
    public void Forecaster_sees_in_place_weight_updates_once_marked()
    {
        var p = Make(RnnArch.Lstm, 1, norm: false);
        var f = new FloatForecaster(p);
        var y = new float[2];
        f.Step([0.1f, 0.2f, 0.3f], y);
        float before = y[0];
        p.HeadBias[0] += 1f;
        p.MarkChanged();
        f.Reset();
        f.Step([0.1f, 0.2f, 0.3f], y);
        Assert.Equal(before + 1f, y[0], 5);
    }

    /// <summary>An optimizer step on the forecaster's own arena reaches the packed copy at the next step: the forecaster
    /// then agrees with a fresh one built over the updated weights.</summary>
    [Fact]
    public void Forecaster_sees_an_optimizer_step()
    {
        var p = Make(RnnArch.Lstm, 2, hidden: 9);
        var f = new FloatForecaster(p);
        var y = new float[2];
        f.Step([0.1f, 0.2f, 0.3f], y);
        var grad = ForecasterParameters.CreateLike(p);
        for (int i = 0; i < grad.Arena.Length; i++) grad.Arena[i] = (i % 7 - 3) * 0.1f;
        Assert.True(new Sgd(0.5).Step(p, grad));
        f.Reset();
        f.Step([0.1f, 0.2f, 0.3f], y);
        var want = new float[2];
        new FloatForecaster(p).Step([0.1f, 0.2f, 0.3f], want);
        Assert.Equal(want, y);
    }

    public static TheoryData<RnnArch, int, int> PackedCases()
    {
        var d = new TheoryData<RnnArch, int, int>();
        foreach (var a in Enum.GetValues<RnnArch>())
            foreach (int h in new[] { 1, 3, 7, 9, 17, 33 })
                d.Add(a, h, h % 2 + 1);
        return d;
    }

    /// <summary>
    /// The packed streaming step at both widths (8 and 4 lanes) against the reference path (the training code at
    /// T = 1, B = 1) at hidden sizes that leave partial tiles, one and two layers, outputs that leave a partial head
    /// tile: outputs and the whole state (h and c) over 40 steps, then after a reset and a set state.
    /// </summary>
    [Theory]
    [MemberData(nameof(PackedCases))]
    public void Packed_step_matches_the_reference_path(RnnArch arch, int hidden, int layers)
    {
        var p = new ForecasterParameters(new ForecasterShape(arch, 3, hidden, layers, 5));
        Optimization.InitializeUniform(p, hidden);
        // Larger weights put the activations away from their linear part (not for relu, whose unbounded growth over 40
        // steps would amplify rounding instead of testing it).
        float scale = arch == RnnArch.RnnRelu ? 1f : 2.5f;
        for (int i = 0; i < p.Arena.Length; i++) p.Arena[i] *= scale;
        p.MarkChanged();
        p.InputMean = [1f, 2f, 3f];
        p.InputStd = [0.5f, 2f, 1f];
        var x = Inputs(40, 3, hidden);
        var reference = new FloatForecaster(p, lanes: 0);
        var want = new float[40 * 5];
        reference.Run(x, want);
        var wantState = new float[reference.StateSize];
        reference.GetState(wantState);
        Assert.Contains(wantState, v => v != 0f);
        foreach (int lanes in new[] { 8, 4 })
        {
            var packed = new FloatForecaster(p, lanes);
            var got = new float[want.Length];
            packed.Run(x, got);
            var state = new float[packed.StateSize];
            packed.GetState(state);
            AssertNear(want, got, $"lanes {lanes} outputs");
            AssertNear(wantState, state, $"lanes {lanes} state");
            // Reset, then the reference's state set: both continue identically.
            packed.Reset();
            packed.SetState(wantState);
            var a = new float[10 * 5]; var b = new float[10 * 5];
            packed.Run(x.AsSpan(0, 30), a);
            var r2 = new FloatForecaster(p, lanes: 0);
            r2.SetState(wantState);
            r2.Run(x.AsSpan(0, 30), b);
            AssertNear(b, a, $"lanes {lanes} after SetState");
        }
    }

    // The packed path sums W_ih x + W_hh h + both biases in one product, in another order than the reference, and its
    // vector activations may fuse a multiply-add the scalar tail rounds twice: float rounding apart, not more.
    private static void AssertNear(float[] want, float[] got, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) <= 2e-6f * (1 + Math.Abs(want[i])), $"{what} element {i}: {got[i]} vs {want[i]}");
    }
}
