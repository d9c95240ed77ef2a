using System.Buffers.Binary;
using Microsoft.Extensions.Logging;

namespace EdgeRnn.Daemon;

/// <summary>
/// Two generations of a stream's checkpoint, "NAME.ckpt.0" and "NAME.ckpt.1": each write goes to the slot of the older
/// generation via write-temp, fsync, rename, fsync-dir, so the newest good one survives a crash at any instant.
/// File: "ERCK" | u32 version | u64 generation | u32 payload length | u32 crc32(payload) | payload.
/// Loading takes the newest generation whose header and CRC check out; a torn or corrupt file falls back to the other.
/// </summary>
public sealed class CheckpointStore(string directory, string name, ILogger? log = null)
{
    private const int HeaderSize = 24;
    private static ReadOnlySpan<byte> Magic => "ERCK"u8;
    private long _generation = -1;

    public string Directory { get; } = directory;
    public string Name { get; } = name;

    private string SlotPath(long generation) => Path.Combine(Directory, $"{Name}.ckpt.{generation & 1}");

    /// <summary>Writes a new generation; returns it.</summary>
    public long Save(ReadOnlySpan<byte> payload)
    {
        if (_generation < 0) _generation = NewestGeneration();
        long gen = _generation + 1;
        byte[] file = new byte[HeaderSize + payload.Length];
        Magic.CopyTo(file);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(4), 1);
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(8), gen);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(16), (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(20), Crc32.Compute(payload));
        payload.CopyTo(file.AsSpan(HeaderSize));
        System.IO.Directory.CreateDirectory(Directory);
        DurableFile.WriteAtomic(SlotPath(gen), file);
        _generation = gen;
        return gen;
    }

    /// <summary>Valid checkpoints, newest first (at most two).</summary>
    public List<(long Generation, byte[] Payload)> LoadAll()
    {
        var found = new List<(long, byte[])>();
        // temp files of a write that a crash or a full disk cut short
        if (System.IO.Directory.Exists(Directory))
            foreach (string tmp in System.IO.Directory.GetFiles(Directory, $"{Name}.ckpt.?.*.tmp"))
                try { File.Delete(tmp); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        for (int slot = 0; slot < 2; slot++)
        {
            string path = Path.Combine(Directory, $"{Name}.ckpt.{slot}");
            if (!File.Exists(path)) continue;
            byte[] f;
            try { f = File.ReadAllBytes(path); }
            catch (IOException e) { log?.LogWarning("checkpoint {Path} unreadable: {Error}", path, e.Message); continue; }
            if (TryParse(f, out long gen, out byte[]? payload)) found.Add((gen, payload!));
            else log?.LogWarning("checkpoint {Path} is corrupt or half-written (bad header or checksum): ignored", path);
        }
        found.Sort((a, b) => b.Item1.CompareTo(a.Item1));
        if (found.Count > 0) _generation = Math.Max(_generation, found[0].Item1);
        return found;
    }

    public static bool TryParse(byte[] f, out long generation, out byte[]? payload)
    {
        generation = -1;
        payload = null;
        if (f.Length < HeaderSize || !f.AsSpan(0, 4).SequenceEqual(Magic) || BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(4)) != 1) return false;
        generation = BinaryPrimitives.ReadInt64LittleEndian(f.AsSpan(8));
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(16));
        if (len != f.Length - HeaderSize) return false;
        if (Crc32.Compute(f.AsSpan(HeaderSize)) != BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(20))) return false;
        payload = f[HeaderSize..];
        return true;
    }

    private long NewestGeneration()
    {
        var all = LoadAll();
        return all.Count > 0 ? all[0].Generation : 0;
    }
}
