using EdgeRnn.Model;
using Microsoft.Extensions.Logging;

namespace EdgeRnn.Daemon;

/// <summary>
/// Two generations of a stream's checkpoint, "NAME.ckpt.0" and "NAME.ckpt.1": each write goes to the slot of the older
/// generation through <see cref="AtomicFile"/> (write temp, fsync, rename, fsync the directory), so the newest good one
/// survives a crash at any instant. The bytes are <see cref="CheckpointCodec"/>'s. Loading takes the newest generation
/// whose header and CRC check out; a torn or corrupt file falls back to the other.
/// </summary>
public sealed class CheckpointStore(string directory, string name, ILogger? log = null)
{
    private long _generation = -1;

    public string Directory { get; } = directory;
    public string Name { get; } = name;

    private string SlotPath(long generation) => Path.Combine(Directory, $"{Name}.ckpt.{generation & 1}");

    /// <summary>Writes a new generation; returns it.</summary>
    public long Save(ReadOnlySpan<byte> payload)
    {
        if (_generation < 0) _generation = NewestGeneration();
        long gen = _generation + 1;
        byte[] file = CheckpointCodec.EncodeFile(gen, payload);
        System.IO.Directory.CreateDirectory(Directory);
        AtomicFile.Write(SlotPath(gen), file);
        _generation = gen;
        return gen;
    }

    /// <summary>Valid checkpoints, newest first (at most two).</summary>
    public List<(long Generation, byte[] Payload)> LoadAll()
    {
        var found = new List<(long, byte[])>();
        // temp files of a write that a crash or a full disk cut short
        if (System.IO.Directory.Exists(Directory))
            foreach (string tmp in System.IO.Directory.GetFiles(Directory, $".{Name}.ckpt.?.*.tmp"))
                try { File.Delete(tmp); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        for (int slot = 0; slot < 2; slot++)
        {
            string path = Path.Combine(Directory, $"{Name}.ckpt.{slot}");
            if (!File.Exists(path)) continue;
            byte[] f;
            try { f = File.ReadAllBytes(path); }
            catch (IOException e) { log?.LogWarning("checkpoint {Path} unreadable: {Error}", path, e.Message); continue; }
            if (CheckpointCodec.TryDecodeFile(f, out long gen, out byte[]? payload)) found.Add((gen, payload!));
            else log?.LogWarning("checkpoint {Path} is corrupt or half-written (bad header or checksum): ignored", path);
        }
        found.Sort((a, b) => b.Item1.CompareTo(a.Item1));
        if (found.Count > 0) _generation = Math.Max(_generation, found[0].Item1);
        return found;
    }

    private long NewestGeneration()
    {
        var all = LoadAll();
        return all.Count > 0 ? all[0].Generation : 0;
    }
}
