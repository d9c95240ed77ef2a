using System.Buffers.Binary;
using System.Text;

namespace EdgeRnn.Ingest.Bridge;

/// <summary>
/// Device-side encoder (the C# twin of eb_encode_* in firmware-bridge/src/edgebridge.c), used by `edgernn simulate`
/// and the tests. Each method writes one wire frame (COBS + 0x00) into <c>dest</c> and returns its length.
/// </summary>
public sealed class FrameEncoder
{
    /// <summary>Sequence number of the next frame.</summary>
    public ushort Sequence { get; set; }

    public int DataF32(uint timeMs, ReadOnlySpan<float> values, Span<byte> dest)
    {
        if (values.Length > Protocol.MaxChannels) throw new ArgumentException($"at most {Protocol.MaxChannels} channels", nameof(values));
        Span<byte> p = stackalloc byte[Protocol.HeaderSize + 4 * values.Length + Protocol.CrcSize];
        Protocol.WriteHeader(p, FrameType.DataF32, Sequence++, timeMs, (ushort)values.Length);
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(p[(Protocol.HeaderSize + 4 * i)..], values[i]);
        return Finish(p, dest);
    }

    /// <param name="raw">int16 readings; short.MinValue means missing</param>
    public int DataI16(uint timeMs, float scale, ReadOnlySpan<short> raw, Span<byte> dest)
    {
        if (raw.Length > Protocol.MaxChannels) throw new ArgumentException($"at most {Protocol.MaxChannels} channels", nameof(raw));
        Span<byte> p = stackalloc byte[Protocol.HeaderSize + 4 + 2 * raw.Length + Protocol.CrcSize];
        Protocol.WriteHeader(p, FrameType.DataI16, Sequence++, timeMs, (ushort)raw.Length);
        BinaryPrimitives.WriteSingleLittleEndian(p[Protocol.HeaderSize..], scale);
        for (int i = 0; i < raw.Length; i++)
            BinaryPrimitives.WriteInt16LittleEndian(p[(Protocol.HeaderSize + 4 + 2 * i)..], raw[i]);
        return Finish(p, dest);
    }

    public int Heartbeat(uint timeMs, Span<byte> dest)
    {
        Span<byte> p = stackalloc byte[Protocol.HeaderSize + Protocol.CrcSize];
        Protocol.WriteHeader(p, FrameType.Heartbeat, Sequence++, timeMs, 0);
        return Finish(p, dest);
    }

    public int Hello(uint timeMs, string deviceId, uint samplePeriodUs, IReadOnlyList<string> names, IReadOnlyList<string> units, Span<byte> dest)
    {
        if (names.Count != units.Count || names.Count > Protocol.MaxChannels)
            throw new ArgumentException($"hello needs one unit per channel and at most {Protocol.MaxChannels} channels");
        Span<byte> p = stackalloc byte[Protocol.MaxPayload];
        int at = Protocol.HeaderSize;
        PutString(p, ref at, deviceId);
        BinaryPrimitives.WriteUInt32LittleEndian(p[at..], samplePeriodUs);
        at += 4;
        p[at++] = (byte)names.Count;
        for (int i = 0; i < names.Count; i++)
        {
            PutString(p, ref at, names[i]);
            PutString(p, ref at, units[i]);
        }
        Protocol.WriteHeader(p, FrameType.Hello, Sequence++, timeMs, (ushort)(at - Protocol.HeaderSize));
        return Finish(p[..(at + Protocol.CrcSize)], dest);
    }

    private static void PutString(Span<byte> p, ref int at, string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        if (n > Protocol.MaxString) throw new ArgumentException($"'{s}' is longer than {Protocol.MaxString} UTF-8 bytes");
        if (at + 1 + n > Protocol.MaxPayload - Protocol.CrcSize - 5) throw new ArgumentException("hello frame too long");
        p[at++] = (byte)n;
        at += Encoding.UTF8.GetBytes(s, p[at..]);
    }

    /// <summary>Appends the CRC to the payload (its last two bytes) and writes COBS + 0x00.</summary>
    private static int Finish(Span<byte> payload, Span<byte> dest)
    {
        int len = payload.Length - Protocol.CrcSize;
        BinaryPrimitives.WriteUInt16LittleEndian(payload[len..], Protocol.Crc16(payload[..len]));
        return FramePayload(payload, dest);
    }

    /// <summary>Frames a complete payload: COBS + 0x00.</summary>
    public static int FramePayload(ReadOnlySpan<byte> payload, Span<byte> dest)
    {
        if (dest.Length < Protocol.CobsMax(payload.Length) + 1) throw new ArgumentException("destination too small", nameof(dest));
        int n = Protocol.CobsEncode(payload, dest);
        dest[n] = 0;
        return n + 1;
    }
}
