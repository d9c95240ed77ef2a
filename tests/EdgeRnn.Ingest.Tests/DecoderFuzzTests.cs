using EdgeRnn.Ingest.Bridge;

namespace EdgeRnn.Ingest.Tests;

/// <summary>
/// Property test of the streaming decoder: valid frames mixed with random garbage, truncated frames, bit flips and
/// over-long runs, pushed in random read chunks. Fixed seeds, 10.4 million bytes in total. The expected outcome is
/// computed from the stream itself: an untouched frame whose preceding byte is 0x00 must be recovered (in order, byte
/// exact), and every other non-empty run between two 0x00 bytes must be counted as a bad frame and dropped.
/// </summary>
public class DecoderFuzzTests
{
    private sealed class Recorder : IFrameHandler
    {
        public readonly List<byte[]> Payloads = new();
        public void OnFrame(in Frame f) => Payloads.Add(f.Payload.ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Decoder_recovers_every_clean_frame_and_counts_every_bad_one(int seed)
    {
        const int targetBytes = 2_600_000;
        var rng = new Random(seed);
        var stream = new List<byte>(targetBytes + 8192);
        var intact = new List<(int Start, byte[] Wire)>();
        var enc = new FrameEncoder { Sequence = (ushort)rng.Next(65536) };
        byte[] wire = new byte[Protocol.MaxWire];
        float[] values = new float[Protocol.MaxChannels];
        short[] raw = new short[Protocol.MaxChannels];
        uint time = (uint)rng.NextInt64(0, 1L << 32);
        int generated = 0;

        int NextFrame()
        {
            generated++;
            time += (uint)rng.Next(0, 2000); // wraps now and then
            int kind = rng.Next(10);
            if (kind == 0 && enc.Sequence != 0)
                return enc.Hello(time, "dev" + rng.Next(100), 1000, ["a", "b", "c"], ["x", "y", "z"], wire);
            if (kind == 1) return enc.Heartbeat(time, wire);
            int c = rng.Next(0, Protocol.MaxChannels + 1);
            if (kind == 2)
            {
                for (int i = 0; i < c; i++) raw[i] = (short)rng.Next(short.MinValue, short.MaxValue + 1);
                return enc.DataI16(time, 0.01f, raw.AsSpan(0, c), wire);
            }
            for (int i = 0; i < c; i++)
                values[i] = rng.Next(20) == 0 ? 0f : (float)(rng.NextDouble() * 2e4 - 1e4);
            return enc.DataF32(time, values.AsSpan(0, c), wire);
        }

        // start and end with a clean frame so lost-frame counting sees both ends
        void AddIntact(int n)
        {
            intact.Add((stream.Count, wire.AsSpan(0, n).ToArray()));
            stream.AddRange(wire.AsSpan(0, n));
        }
        AddIntact(NextFrame());
        while (stream.Count < targetBytes)
        {
            int n = NextFrame();
            switch (rng.Next(12))
            {
                case 0: // random garbage of any length, zeros included, before the frame
                    for (int k = rng.Next(1, 400); k > 0; k--) stream.Add((byte)rng.Next(256));
                    AddIntact(n);
                    break;
                case 1: // truncated frame (the next frame glues onto it unless a 0x00 follows)
                    stream.AddRange(wire.AsSpan(0, rng.Next(1, n - 1)));
                    if (rng.Next(2) == 0) stream.Add(0);
                    break;
                case 2: // one flipped bit anywhere in the wire frame, delimiter included
                {
                    int at = stream.Count;
                    stream.AddRange(wire.AsSpan(0, n));
                    int bit = rng.Next(8 * n);
                    stream[at + bit / 8] ^= (byte)(1 << (bit % 8));
                    break;
                }
                case 3: // an over-long run without a delimiter (a stuck line, a wrong baud rate)
                    for (int k = rng.Next(Protocol.MaxWire + 1, 3 * Protocol.MaxWire); k > 0; k--) stream.Add((byte)rng.Next(1, 256));
                    stream.Add(0);
                    AddIntact(n);
                    break;
                case 4: // a byte dropped from the middle (UART overrun)
                {
                    int drop = rng.Next(n - 1);
                    for (int i = 0; i < n; i++) if (i != drop) stream.Add(wire[i]);
                    break;
                }
                default:
                    AddIntact(n);
                    break;
            }
        }
        stream.Add(0);
        AddIntact(NextFrame());
        byte[] bytes = stream.ToArray();

        // expectations from the bytes alone
        var expected = intact.Where(f => f.Start == 0 || bytes[f.Start - 1] == 0).ToList();
        var goodStarts = expected.Select(f => f.Start).ToHashSet();
        int badRuns = 0;
        for (int i = 0, start = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != 0) continue;
            if (i > start && !goodStarts.Contains(start)) badRuns++;
            start = i + 1;
        }

        var dec = new FrameDecoder();
        var rec = new Recorder();
        for (int at = 0; at < bytes.Length;)
        {
            int n = Math.Min(bytes.Length - at, rng.Next(1, 4097));
            dec.Push(bytes.AsSpan(at, n), rec);
            at += n;
        }

        Assert.Equal(expected.Count, rec.Payloads.Count);
        byte[] payload = new byte[Protocol.MaxPayload];
        for (int i = 0; i < expected.Count; i++)
        {
            int m = Protocol.CobsDecode(expected[i].Wire.AsSpan(0, expected[i].Wire.Length - 1), payload);
            Assert.True(payload.AsSpan(0, m).SequenceEqual(rec.Payloads[i]), $"frame {i} differs");
        }
        Assert.Equal(badRuns, dec.BadFrames);
        Assert.Equal(bytes.Length, dec.Bytes);
        Assert.Equal(expected.Count, dec.Frames);
        Assert.Equal(generated - expected.Count, dec.LostFrames);
        Assert.True(dec.CrcErrors > 0 && dec.Malformed > 0 && dec.Oversized > 0, "every failure kind exercised");
        Assert.True(bytes.Length >= targetBytes);
    }
}
