using System.Text;
using EdgeRnn.Daemon;

namespace EdgeRnn.Daemon.Tests;

public sealed class OutboxTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgernn-outbox-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static byte[] Payload(string s, long seq) => Encoding.UTF8.GetBytes($"{{\"stream\":\"{s}\",\"seq\":{seq}}}");

    private static List<OutboxMessage> DrainAll(Outbox o)
    {
        var got = new List<OutboxMessage>();
        while (o.Peek() is { } m) { got.Add(m); o.Ack(m); }
        return got;
    }

    [Fact]
    public void Delivers_in_order_per_stream_and_removes_only_after_ack()
    {
        using var o = new Outbox(_dir, 1 << 20, TimeSpan.Zero);
        for (int i = 1; i <= 50; i++)
        {
            o.Append("a", i, "t/a", 60, Payload("a", i));
            if (i % 2 == 0) o.Append("b", i / 2, "t/b", 60, Payload("b", i / 2));
        }
        Assert.Equal(75, o.Depth);
        var first = o.Peek()!;
        Assert.Equal((first.Stream, first.Seq), (o.Peek()!.Stream, o.Peek()!.Seq)); // peek does not consume
        Assert.Equal(1, o.Peek()!.Seq);
        var got = DrainAll(o);
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), got.Where(m => m.Stream == "a").Select(m => m.Seq));
        Assert.Equal(Enumerable.Range(1, 25).Select(i => (long)i), got.Where(m => m.Stream == "b").Select(m => m.Seq));
        Assert.Equal(0, o.Depth);
        Assert.Equal("t/b", got.First(m => m.Stream == "b").Topic);
        Assert.Equal(Payload("a", 7), got.First(m => m.Stream == "a" && m.Seq == 7).Payload);
    }

    [Fact]
    public void Rejects_a_sequence_number_that_repeats_or_skips()
    {
        using var o = new Outbox(_dir, 1 << 20, TimeSpan.Zero);
        o.Append("a", 1, "t", 0, Payload("a", 1));
        Assert.Throws<InvalidOperationException>(() => o.Append("a", 1, "t", 0, Payload("a", 1)));
        Assert.Throws<InvalidOperationException>(() => o.Append("a", 3, "t", 0, Payload("a", 3)));
    }

    [Fact]
    public void Unacked_messages_and_seq_survive_a_restart_even_after_every_segment_was_acked()
    {
        using (var o = new Outbox(_dir, 64 * 1024, TimeSpan.Zero))
        {
            for (int i = 1; i <= 400; i++) o.Append("a", i, "t", 0, Payload("a", i)); // several segments (8 KiB each)
            for (int i = 0; i < 150; i++) { var m = o.Peek()!; o.Ack(m); }
        }
        using (var o = new Outbox(_dir, 64 * 1024, TimeSpan.Zero))
        {
            Assert.Equal(400, o.LastSeq("a"));
            Assert.Equal(250, o.Depth);
            Assert.Equal(151, o.Peek()!.Seq);
            DrainAll(o);
        }
        Assert.True(Directory.GetFiles(_dir, "seg-*.log").Length <= 1, "acknowledged segments are deleted");
        using (var o = new Outbox(_dir, 64 * 1024, TimeSpan.Zero))
        {
            Assert.Equal(400, o.LastSeq("a")); // from the snapshot at the head of the surviving segment
            Assert.Equal(0, o.Depth);
            o.Append("a", 401, "t", 0, Payload("a", 401));
        }
    }

    [Fact]
    public void A_torn_tail_is_truncated_and_everything_before_it_kept()
    {
        using (var o = new Outbox(_dir, 1 << 20, TimeSpan.Zero))
            for (int i = 1; i <= 10; i++) o.Append("a", i, "t", 0, Payload("a", i));
        string seg = Directory.GetFiles(_dir, "seg-*.log").Single();
        long len = new FileInfo(seg).Length;
        using (var fs = new FileStream(seg, FileMode.Open)) fs.SetLength(len - 5); // the last write was cut short
        File.Delete(Path.Combine(_dir, "seq")); // by a crash: the seq file, written after the data, never saw seq 10
        using (var o = new Outbox(_dir, 1 << 20, TimeSpan.Zero))
        {
            Assert.Equal(9, o.LastSeq("a"));
            Assert.Equal(Enumerable.Range(1, 9).Select(i => (long)i), DrainAll(o).Select(m => m.Seq));
            o.Append("a", 10, "t", 0, Payload("a", 10)); // seq 10 never reached disk whole: it is reissued, not skipped
        }
        using (var o = new Outbox(_dir, 1 << 20, TimeSpan.Zero)) Assert.Equal(10, o.LastSeq("a"));
    }

    [Fact]
    public void Corrupt_record_is_detected_by_crc()
    {
        using (var o = new Outbox(_dir, 1 << 20, TimeSpan.Zero))
            for (int i = 1; i <= 10; i++) o.Append("a", i, "t", 0, Payload("a", i));
        File.Delete(Path.Combine(_dir, "cursor"));
        string seg = Directory.GetFiles(_dir, "seg-*.log").Single();
        byte[] bytes = File.ReadAllBytes(seg);
        int recordSize = bytes.Length / 10;
        bytes[5 * recordSize + 20] ^= 0x40; // inside record 6's body
        File.WriteAllBytes(seg, bytes);
        using var o2 = new Outbox(_dir, 1 << 20, TimeSpan.Zero);
        Assert.Equal(5, DrainAll(o2).Count);
        // 6..10 may have been published before the damage: the seq file, kept apart from the records, says so
        Assert.Equal(10, o2.LastSeq("a"));
    }

    [Fact]
    public void Drops_oldest_only_when_the_cap_is_hit_and_counts_it()
    {
        const long cap = 32 * 1024;
        using var o = new Outbox(_dir, cap, TimeSpan.Zero);
        int n = 0;
        while (o.Dropped == 0) { n++; o.Append("a", n, "t", 0, new byte[200]); Assert.True(n < 10_000); }
        Assert.True(n * 230 > cap, $"nothing dropped before the cap: {n} records");
        for (int i = 0; i < 300; i++) { n++; o.Append("a", n, "t", 0, new byte[200]); }
        Assert.True(o.Bytes <= cap, $"spool {o.Bytes} bytes over the cap {cap}");
        var got = DrainAll(o);
        Assert.Equal(n, got[^1].Seq); // the newest are kept
        Assert.Equal(n - got.Count, o.Dropped); // every missing one is counted
        Assert.Equal(Enumerable.Range((int)got[0].Seq, got.Count).Select(i => (long)i), got.Select(m => m.Seq)); // a contiguous tail
    }

    [Fact]
    public async Task WaitAsync_wakes_when_a_message_arrives()
    {
        using var o = new Outbox(_dir, 1 << 20, TimeSpan.Zero);
        var wait = o.WaitAsync(CancellationToken.None);
        Assert.False(wait.IsCompleted);
        o.Append("a", 1, "t", 0, Payload("a", 1));
        await wait.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(o.WaitAsync(CancellationToken.None).IsCompleted);
    }
}
