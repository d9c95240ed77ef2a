using System.Buffers.Binary;

namespace EdgeRnn.Ingest.Bridge;

/// <summary>Receives decoded frames; the frame's spans are valid only during the call.</summary>
public interface IFrameHandler
{
    void OnFrame(in Frame frame);
}

/// <summary>
/// Streaming decoder for the firmware-bridge protocol: feed it whatever each read returned (a frame split across reads,
/// many frames in one read, garbage in between). It resyncs at every 0x00, counts and drops frames that fail COBS, CRC or
/// layout checks and frames longer than <see cref="Protocol.MaxWire"/>, counts sequence gaps as lost frames and extends
/// device time to 64 bits. Decodes into two preallocated buffers: nothing is allocated per frame.
/// Not thread-safe: one reader thread owns it; counters may be read from other threads (torn reads are harmless).
/// </summary>
public sealed class FrameDecoder
{
    private readonly byte[] _wire = new byte[Protocol.MaxWire];
    private readonly byte[] _payload = new byte[Protocol.MaxPayload];
    private int _len;
    private bool _overflow;

    private bool _haveSeq;
    private ushort _lastSeq;
    private bool _haveTime;
    private uint _lastTime;
    private long _timeHigh;

    public long Bytes { get; private set; }
    public long Frames { get; private set; }
    public long CrcErrors { get; private set; }
    /// <summary>Bad COBS, short payload, wrong version, unknown type or a body that does not match its count.</summary>
    public long Malformed { get; private set; }
    public long Oversized { get; private set; }
    public long LostFrames { get; private set; }
    public long DeviceRestarts { get; private set; }
    public long BadFrames => CrcErrors + Malformed + Oversized;

    /// <summary>Drops a partially received frame (after a reconnect). Sequence and time tracking are kept, so frames
    /// the device sent while unplugged are counted as lost.</summary>
    public void ResetStream()
    {
        _len = 0;
        // bytes before the first 0x00 after reopening may be the tail of a frame: skip to the next delimiter
        _overflow = true;
    }

    public void Push(ReadOnlySpan<byte> data, IFrameHandler handler)
    {
        Bytes += data.Length;
        while (!data.IsEmpty)
        {
            int z = data.IndexOf((byte)0);
            ReadOnlySpan<byte> part = z < 0 ? data : data[..z];
            if (!_overflow)
            {
                if (_len + part.Length <= _wire.Length)
                {
                    part.CopyTo(_wire.AsSpan(_len));
                    _len += part.Length;
                }
                else
                {
                    Oversized++;
                    _overflow = true;
                    _len = 0;
                }
            }
            if (z < 0) return;
            data = data[(z + 1)..];
            bool skip = _overflow;
            int n = _len;
            _len = 0;
            _overflow = false;
            if (!skip && n > 0) Complete(n, handler);
        }
    }

    private void Complete(int wireLength, IFrameHandler handler)
    {
        int m = Protocol.CobsDecode(_wire.AsSpan(0, wireLength), _payload);
        if (m < Protocol.HeaderSize + Protocol.CrcSize) { Malformed++; return; }
        ReadOnlySpan<byte> p = _payload.AsSpan(0, m);
        if (p[0] != Protocol.Version) { Malformed++; return; }
        if (BinaryPrimitives.ReadUInt16LittleEndian(p[(m - 2)..]) != Protocol.Crc16(p[..(m - 2)])) { CrcErrors++; return; }
        var type = (FrameType)p[1];
        ushort count = BinaryPrimitives.ReadUInt16LittleEndian(p[8..]);
        int bodyLength = m - Protocol.HeaderSize - Protocol.CrcSize;
        if (Protocol.ExpectedBodyLength(type, count) != bodyLength) { Malformed++; return; }
        ushort seq = BinaryPrimitives.ReadUInt16LittleEndian(p[2..]);
        uint time = BinaryPrimitives.ReadUInt32LittleEndian(p[4..]);

        if (type == FrameType.Hello && seq == 0)
        {
            // the device (re)started: its counters begin again, nothing was lost
            if (_haveSeq) DeviceRestarts++;
            _haveSeq = false;
            _haveTime = false;
        }
        if (_haveSeq)
        {
            int gap = (ushort)(seq - _lastSeq - 1);
            if (gap < 0x8000) LostFrames += gap;
        }
        _haveSeq = true;
        _lastSeq = seq;

        if (!_haveTime) { _timeHigh = 0; _haveTime = true; }
        else if (time < _lastTime && _lastTime - time > 0x8000_0000u) _timeHigh += 1L << 32;
        _lastTime = time;

        Frames++;
        handler.OnFrame(new Frame
        {
            Type = type,
            Sequence = seq,
            DeviceTimeMs = time,
            DeviceTime64 = _timeHigh + time,
            Count = count,
            Body = p.Slice(Protocol.HeaderSize, bodyLength),
            Payload = p,
        });
    }
}
