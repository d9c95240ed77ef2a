namespace EdgeRnn.Ingest.Tests;

public class ConditionerTests
{
    private sealed class Rows : ISampleSink
    {
        public readonly List<(string Stream, long Ts, float[] V)> Got = new();
        public void OnSample(string stream, long timestampMs, ReadOnlySpan<float> values) => Got.Add((stream, timestampMs, values.ToArray()));
    }

    private sealed class Nothing : ISampleSink
    {
        public double Sum;
        public void OnSample(string stream, long timestampMs, ReadOnlySpan<float> values) => Sum += values[0];
    }

    [Fact]
    public void A_clock_that_jumps_back_far_restarts_the_grid_instead_of_dropping_everything_after_it()
    {
        // one sample stamped a year ahead, then the true clock again: without re-anchoring, every later sample is
        // "out of order" and the stream is frozen for a year
        var rows = new Rows();
        var c = new SampleConditioner(rows, 1, new ConditionerOptions(1000));
        for (long t = 0; t < 10_000; t += 1000) c.OnSample("s", 1_000_000 + t, [1f]);
        c.OnSample("s", 1_000_000 + 365L * 86_400_000, [2f]);
        int before = rows.Got.Count;
        for (long t = 10_000; t < 20_000; t += 1000) c.OnSample("s", 1_000_000 + t, [3f]);
        c.OnSample("s", 1_000_000 + 18_500, [4f]); // a little late: jitter, still dropped
        Assert.Equal(before + 10, rows.Got.Count);
        Assert.Equal(1_000_000 + 19_000, rows.Got[^1].Ts);
        Assert.Equal(2, c.Counters["grid_resets"]); // forward, then back
        Assert.Equal(1, c.Counters["dropped_out_of_order"]);
    }

    [Fact]
    public void Resamples_onto_the_model_grid_by_linear_interpolation()
    {
        var rows = new Rows();
        var c = new SampleConditioner(rows, 1, new ConditionerOptions(100));
        // input every 40 ms on a ramp v = t/10, starting off-grid
        for (long t = 1030; t <= 1500; t += 40) c.OnSample("s", t, [t / 10f]);
        Assert.Equal(new long[] { 1100, 1200, 1300, 1400 }, rows.Got.Select(r => r.Ts));
        foreach (var r in rows.Got) Assert.Equal(r.Ts / 10f, r.V[0], 3);
        Assert.Equal(0, c.Counters["emitted_missing_values"]);
    }

    [Fact]
    public void Non_finite_and_out_of_range_values_are_counted_and_never_passed_on_as_numbers()
    {
        var rows = new Rows();
        var c = new SampleConditioner(rows, 2, new ConditionerOptions(10)
        {
            GapPolicy = GapPolicy.MarkMissing, Min = [-100, 0], Max = [100, 1],
        });
        c.OnSample("s", 0, [1, 0.5f]);
        c.OnSample("s", 10, [float.PositiveInfinity, 0.5f]);
        c.OnSample("s", 20, [float.NaN, 7f]);          // second channel out of range
        c.OnSample("s", 30, [3, 0.25f]);
        Assert.Equal(4, rows.Got.Count);
        Assert.True(float.IsNaN(rows.Got[1].V[0]));
        Assert.Equal(0.5f, rows.Got[1].V[1]);
        Assert.True(float.IsNaN(rows.Got[2].V[0]) && float.IsNaN(rows.Got[2].V[1]));
        Assert.Equal(new[] { 3f, 0.25f }, rows.Got[3].V);
        Assert.Equal(2, c.Counters["rejected_nonfinite"]);
        Assert.Equal(1, c.Counters["rejected_out_of_range"]);
        Assert.DoesNotContain(rows.Got, r => r.V.Any(float.IsInfinity) || r.V[1] > 1);
    }

    [Fact]
    public void Gap_policy_hold_holds_for_a_while_then_marks_missing()
    {
        var rows = new Rows();
        var c = new SampleConditioner(rows, 1, new ConditionerOptions(10) { GapPolicy = GapPolicy.Hold, MaxHoldMs = 30 });
        c.OnSample("s", 0, [5]);
        c.OnSample("s", 100, [9]);   // a 100 ms gap (> 3 periods): not interpolated
        var v = rows.Got.Select(r => r.V[0]).ToArray();
        Assert.Equal(11, v.Length);  // 0, 10, ..., 100
        Assert.Equal(new float[] { 5, 5, 5, 5 }, v[..4]);           // held up to 30 ms
        Assert.All(v[4..10], x => Assert.True(float.IsNaN(x)));    // then missing, explicitly
        Assert.Equal(9, v[10]);
        Assert.Equal(3, c.Counters["emitted_held_values"]);
        Assert.Equal(6, c.Counters["emitted_missing_values"]);
    }

    [Fact]
    public void Gap_policy_mark_missing_gives_nan_at_once()
    {
        var rows = new Rows();
        var c = new SampleConditioner(rows, 1, new ConditionerOptions(10) { GapPolicy = GapPolicy.MarkMissing });
        c.OnSample("s", 0, [5]);
        c.OnSample("s", 50, [9]);
        Assert.Equal(5, rows.Got[0].V[0]);
        Assert.All(rows.Got.Skip(1).Take(4), r => Assert.True(float.IsNaN(r.V[0])));
        Assert.Equal(9, rows.Got[^1].V[0]);
    }

    [Fact]
    public void Streams_are_independent_and_out_of_order_or_wrong_width_samples_are_dropped()
    {
        var rows = new Rows();
        var c = new SampleConditioner(rows, 1, new ConditionerOptions(10));
        c.OnSample("a", 0, [1]);
        c.OnSample("b", 0, [100]);
        c.OnSample("a", 10, [2]);
        c.OnSample("a", 5, [9]);       // out of order
        c.OnSample("a", 20, [1, 2]);   // wrong width
        c.OnSample("b", 10, [200]);
        Assert.Equal(new[] { 1f, 2f }, rows.Got.Where(r => r.Stream == "a").Select(r => r.V[0]));
        Assert.Equal(new[] { 100f, 200f }, rows.Got.Where(r => r.Stream == "b").Select(r => r.V[0]));
        Assert.Equal(1, c.Counters["dropped_out_of_order"]);
        Assert.Equal(1, c.Counters["dropped_wrong_width"]);
    }

    [Fact]
    public void A_clock_jump_restarts_the_grid_instead_of_filling_days()
    {
        var rows = new Rows();
        var c = new SampleConditioner(rows, 1, new ConditionerOptions(10));
        c.OnSample("s", 0, [1]);
        c.OnSample("s", 86_400_000, [2]);
        Assert.Equal(2, rows.Got.Count);
        Assert.Equal(1, c.Counters["grid_resets"]);
    }

    [Fact]
    public void Conditioning_allocates_nothing_per_sample()
    {
        var sink = new Nothing();
        var c = new SampleConditioner(sink, 4, new ConditionerOptions(10) { Min = [-1e6f, -1e6f, -1e6f, -1e6f], Max = [1e6f, 1e6f, 1e6f, 1e6f] });
        float[] v = [1, 2, float.NaN, 4];
        for (int i = 0; i < 1000; i++) c.OnSample("s", i * 7, v); // warm up (stream state, JIT)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 1000; i < 101_000; i++) { v[0] = i; c.OnSample("s", i * 7, v); }
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
        Assert.True(sink.Sum > 0);
    }
}
