using System.Buffers.Binary;
using System.Text;
using EdgeRnn.Forecasting;

namespace EdgeRnn.Daemon;

/// <summary>Which model a checkpoint belongs to, and the timestamp (ms) of the last sample it saw.</summary>
public readonly record struct CheckpointIdentity(string Model, string ModelVersion, long LastTimestampMs);

/// <summary>
/// The one checkpoint format, every byte of it (little-endian):
/// <code>
/// file    = "ERCK" | u32 file version | i64 generation | u32 body length | u32 crc32(body) | body
/// body v2 = string model | string model version | i64 last timestamp ms | i32 section version | forecaster section
/// body v1 = string model | string model version | i64 last timestamp ms | "ERCK" | i32 section version | forecaster section
/// </code>
/// (strings as <see cref="BinaryWriter"/> writes them: 7-bit length, UTF-8). The forecaster section is written and read by
/// the forecaster's parts (<see cref="IStreamForecaster.WriteCheckpoint"/>) at the layout version it names
/// (<see cref="IStreamForecaster.CheckpointVersion"/>); this codec records that version and hands it back on reading.
/// Version 2 is written; version 1 files (which repeated the magic inside the body) still load.
/// Files are written through <see cref="AtomicFile"/> by <see cref="CheckpointStore"/>.
/// </summary>
public static class CheckpointCodec
{
    public const uint FileVersion = 2;
    public const int HeaderSize = 24;
    private static ReadOnlySpan<byte> Magic => "ERCK"u8;
    private const int MagicInt = 0x4B435245; // "ERCK" read as a little-endian int: what v1 bodies carry before the section version

    /// <summary>The body of a checkpoint: identity, then the forecaster's section. Call between two steps.</summary>
    public static byte[] EncodeBody(CheckpointIdentity id, IStreamForecaster forecaster)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(id.Model);
            w.Write(id.ModelVersion);
            w.Write(id.LastTimestampMs);
            w.Write(forecaster.CheckpointVersion);
            forecaster.WriteCheckpoint(w);
        }
        return ms.ToArray();
    }

    /// <summary>The identity a body was written for (to refuse another model's checkpoint before restoring anything).</summary>
    public static CheckpointIdentity ReadIdentity(byte[] body)
    {
        using var r = new BinaryReader(new MemoryStream(body, writable: false), Encoding.UTF8);
        return ReadIdentity(r);
    }

    /// <summary>Restores <paramref name="forecaster"/> from a body (v1 or v2); returns its identity.</summary>
    /// <exception cref="InvalidDataException">the body is damaged or of a layout this build does not read</exception>
    public static CheckpointIdentity Restore(byte[] body, IStreamForecaster forecaster)
    {
        using var r = new BinaryReader(new MemoryStream(body, writable: false), Encoding.UTF8);
        var id = ReadIdentity(r);
        int section;
        try { section = r.ReadInt32(); if (section == MagicInt) section = r.ReadInt32(); } // MagicInt: a v1 body
        catch (EndOfStreamException) { throw new InvalidDataException("checkpoint body is truncated"); }
        if (section < 1 || section > forecaster.CheckpointVersion)
            throw new InvalidDataException($"checkpoint section version {section} is not supported (this build reads 1..{forecaster.CheckpointVersion})");
        try { forecaster.ReadCheckpoint(r, section); }
        catch (EndOfStreamException) { throw new InvalidDataException("checkpoint body is truncated"); }
        return id;
    }

    private static CheckpointIdentity ReadIdentity(BinaryReader r)
    {
        try { return new CheckpointIdentity(r.ReadString(), r.ReadString(), r.ReadInt64()); }
        catch (EndOfStreamException) { throw new InvalidDataException("checkpoint body is truncated"); }
    }

    /// <summary>A whole checkpoint file for <paramref name="generation"/>.</summary>
    public static byte[] EncodeFile(long generation, ReadOnlySpan<byte> body)
    {
        byte[] file = new byte[HeaderSize + body.Length];
        Magic.CopyTo(file);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(4), FileVersion);
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(8), generation);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(16), (uint)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(20), Crc32.Compute(body));
        body.CopyTo(file.AsSpan(HeaderSize));
        return file;
    }

    /// <summary>Checks magic, version (1 or 2), length and CRC; false for a torn, damaged or foreign file.</summary>
    public static bool TryDecodeFile(byte[] file, out long generation, out byte[]? body)
    {
        generation = -1;
        body = null;
        if (file.Length < HeaderSize || !file.AsSpan(0, 4).SequenceEqual(Magic)) return false;
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(4));
        if (version is not (1 or FileVersion)) return false;
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(16));
        if (len != file.Length - HeaderSize) return false;
        if (Crc32.Compute(file.AsSpan(HeaderSize)) != BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(20))) return false;
        generation = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(8));
        body = file[HeaderSize..];
        return true;
    }
}
