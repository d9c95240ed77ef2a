namespace EdgeRnn.Ingest.Tests;

public class MissingValuesTests
{
    [Fact]
    public void Hold_lasts_up_to_the_limit_inclusive_then_marks_missing()
    {
        var p = new MissingValues(30);
        Assert.Equal(5f, p.Fill(float.NaN, 5f, heldAt: 100, now: 130));            // at the limit: held
        Assert.True(float.IsNaN(p.Fill(float.NaN, 5f, heldAt: 100, now: 131)));    // one past: missing
        Assert.True(float.IsNaN(p.Fill(float.PositiveInfinity, 5f, 100, 131)));    // ±Inf is missing too
        Assert.False(p.MayHold(heldAt: 140, now: 130));                             // a value from the future is never held
        Assert.Equal(7f, p.Fill(7f, 5f, 100, 1_000));                               // a present value is kept
        Assert.False(MissingValues.MarkMissing.MayHold(100, 100));
        Assert.True(MissingValues.HoldForever.MayHold(long.MinValue / 2, long.MaxValue / 2));
    }

    [Fact]
    public void Carry_and_forward_fill_use_the_last_valid_value_and_targets_are_only_detected()
    {
        float n = float.NaN;
        Assert.Equal(3f, MissingValues.Carry(n, 3f));
        Assert.Equal(3f, MissingValues.Carry(float.NegativeInfinity, 3f));
        Assert.Equal(4f, MissingValues.Carry(4f, 3f));
        Assert.Equal([1f, 1f, 1f, 2f, 2f], MissingValues.ForwardFill([n, 1, float.PositiveInfinity, 2, n]));
        Assert.Throws<InvalidDataException>(() => MissingValues.ForwardFill([n, n]));
        Assert.True(MissingValues.AnyMissing([1f, n]));
        Assert.False(MissingValues.AnyMissing([1f, 2f]));
    }
}
