using System.Buffers.Binary;

namespace EdgeRnn.Ingest.Bridge;

/// <summary>Frame types of the firmware-bridge protocol (firmware-bridge/PROTOCOL.md).</summary>
public enum FrameType : byte
{
    Hello = 1,
    DataF32 = 2,
    DataI16 = 3,
    Heartbeat = 4,
}

/// <summary>Constants and primitives shared by the encoder and decoder; mirrors firmware-bridge/include/edgebridge.h.</summary>
public static class Protocol
{
    public const byte Version = 1;
    public const int HeaderSize = 10;
    public const int CrcSize = 2;
    public const int MaxPayload = 1024;
    public const int MaxChannels = 64;
    public const int MaxString = 32;
    public static int CobsMax(int n) => n + n / 254 + 1;
    public static readonly int MaxWire = CobsMax(MaxPayload) + 1;

    /// <summary>CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0 (check "123456789" = 0x29B1).</summary>
    public static ushort Crc16(ReadOnlySpan<byte> data)
    {
        ushort crc = 0xFFFF;
        foreach (byte d in data)
        {
            // table-free nibble-less form: a byte at a time is plenty at serial speeds
            crc ^= (ushort)(d << 8);
            for (int b = 0; b < 8; b++)
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
        }
        return crc;
    }

    /// <summary>COBS-encodes <paramref name="input"/> into <paramref name="output"/> (room for CobsMax); no delimiter.</summary>
    public static int CobsEncode(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int codeAt = 0, o = 1;
        byte code = 1;
        foreach (byte b in input)
        {
            if (b == 0)
            {
                output[codeAt] = code;
                codeAt = o++;
                code = 1;
            }
            else
            {
                output[o++] = b;
                if (++code == 0xFF)
                {
                    output[codeAt] = code;
                    codeAt = o++;
                    code = 1;
                }
            }
        }
        output[codeAt] = code;
        return o;
    }

    /// <summary>Decodes one COBS block (no delimiter). Returns the length, or -1 when malformed or too long for output.</summary>
    public static int CobsDecode(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int i = 0, o = 0;
        while (i < input.Length)
        {
            int code = input[i++];
            if (code == 0) return -1;
            int n = code - 1;
            if (i + n > input.Length || o + n > output.Length) return -1;
            ReadOnlySpan<byte> run = input.Slice(i, n);
            if (run.Contains((byte)0)) return -1;
            run.CopyTo(output[o..]);
            o += n;
            i += n;
            if (code != 0xFF && i < input.Length)
            {
                if (o >= output.Length) return -1;
                output[o++] = 0;
            }
        }
        return o;
    }

    /// <summary>Body length a frame of this type and count must have, or -1 for an unknown type.</summary>
    public static int ExpectedBodyLength(FrameType type, int count) => type switch
    {
        FrameType.Hello => count,
        FrameType.DataF32 => 4 * count,
        FrameType.DataI16 => 4 + 2 * count,
        FrameType.Heartbeat => 0,
        _ => -1,
    };

    internal static void WriteHeader(Span<byte> p, FrameType type, ushort seq, uint timeMs, ushort count)
    {
        p[0] = Version;
        p[1] = (byte)type;
        BinaryPrimitives.WriteUInt16LittleEndian(p[2..], seq);
        BinaryPrimitives.WriteUInt32LittleEndian(p[4..], timeMs);
        BinaryPrimitives.WriteUInt16LittleEndian(p[8..], count);
    }
}

/// <summary>A decoded frame; <see cref="Body"/> points into the decoder's buffer and is valid only during the callback.</summary>
public readonly ref struct Frame
{
    public FrameType Type { get; init; }
    public ushort Sequence { get; init; }
    public uint DeviceTimeMs { get; init; }
    /// <summary>Device time extended across uint32 wraps (reset when the device restarts).</summary>
    public long DeviceTime64 { get; init; }
    public ushort Count { get; init; }
    public ReadOnlySpan<byte> Body { get; init; }
    /// <summary>The whole unstuffed payload (header, body, CRC).</summary>
    public ReadOnlySpan<byte> Payload { get; init; }

    /// <summary>Channel value i of a data frame (float32, or int16 × scale with -32768 meaning missing → NaN).</summary>
    public float Value(int i) => Type switch
    {
        FrameType.DataF32 => BinaryPrimitives.ReadSingleLittleEndian(Body[(4 * i)..]),
        FrameType.DataI16 => BinaryPrimitives.ReadInt16LittleEndian(Body[(4 + 2 * i)..]) is short raw && raw != short.MinValue
            ? raw * BinaryPrimitives.ReadSingleLittleEndian(Body) : float.NaN,
        _ => throw new InvalidOperationException($"frame type {Type} carries no values"),
    };
}

/// <summary>The device description sent in hello frames.</summary>
public sealed record HelloInfo(string DeviceId, uint SamplePeriodUs, IReadOnlyList<string> ChannelNames, IReadOnlyList<string> Units)
{
    public static bool TryParse(ReadOnlySpan<byte> body, out HelloInfo? info)
    {
        info = null;
        int at = 0;
        if (!TryString(body, ref at, out string id) || at + 5 > body.Length) return false;
        uint period = BinaryPrimitives.ReadUInt32LittleEndian(body[at..]);
        at += 4;
        int n = body[at++];
        if (n > Protocol.MaxChannels) return false;
        var names = new string[n];
        var units = new string[n];
        for (int i = 0; i < n; i++)
            if (!TryString(body, ref at, out names[i]) || !TryString(body, ref at, out units[i])) return false;
        if (at != body.Length) return false;
        info = new HelloInfo(id, period, names, units);
        return true;
    }

    private static bool TryString(ReadOnlySpan<byte> body, ref int at, out string s)
    {
        s = "";
        if (at >= body.Length) return false;
        int n = body[at++];
        if (n > Protocol.MaxString || at + n > body.Length) return false;
        try { s = new System.Text.UTF8Encoding(false, true).GetString(body.Slice(at, n)); }
        catch (System.Text.DecoderFallbackException) { return false; }
        at += n;
        return true;
    }
}
