using EdgeRnn.Daemon;

namespace EdgeRnn.Daemon.Tests;

public sealed class CheckpointStoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgernn-ckpt-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void Keeps_two_generations_and_loads_the_newest()
    {
        var s = new CheckpointStore(_dir, "x");
        for (byte g = 1; g <= 5; g++) Assert.Equal(g, s.Save(new byte[] { g, g, g }));
        var all = new CheckpointStore(_dir, "x").LoadAll();
        Assert.Equal(new long[] { 5, 4 }, all.Select(a => a.Generation));
        Assert.Equal(new byte[] { 5, 5, 5 }, all[0].Payload);
        Assert.Equal(2, Directory.GetFiles(_dir, "x.ckpt.*").Length);
    }

    [Theory]
    [InlineData("truncate")]
    [InlineData("flip")]
    [InlineData("empty")]
    public void A_corrupt_or_half_written_newest_falls_back_to_the_previous(string damage)
    {
        var s = new CheckpointStore(_dir, "x");
        s.Save(new byte[100].Select((_, i) => (byte)i).ToArray()); // gen 1 in slot 1
        s.Save(new byte[100].Select((_, i) => (byte)(i * 3)).ToArray()); // gen 2 in slot 0
        string newest = Path.Combine(_dir, "x.ckpt.0");
        byte[] f = File.ReadAllBytes(newest);
        f = damage switch { "truncate" => f[..(f.Length / 2)], "empty" => [], _ => Flip(f, 60) };
        File.WriteAllBytes(newest, f);
        var fresh = new CheckpointStore(_dir, "x");
        var all = fresh.LoadAll();
        Assert.Single(all);
        Assert.Equal(1, all[0].Generation);
        Assert.Equal(99, all[0].Payload[99]);
        Assert.Equal(2, fresh.Save([1])); // the next save overwrites the damaged slot, never the good one
        Assert.Equal(new long[] { 2, 1 }, fresh.LoadAll().Select(a => a.Generation));
    }

    private static byte[] Flip(byte[] f, int i) { f[i] ^= 1; return f; }
}
