using System.Globalization;
using EdgeRnn.Ingest.Bridge;

namespace EdgeRnn.Ingest.Tests;

/// <summary>The C# codec against firmware-bridge/golden/vectors.txt, the file the C tests (ctest) read too.</summary>
public class GoldenVectorTests
{
    private sealed record Vector(int Line, string Kind, byte[] Payload, byte[] Wire, Dictionary<string, long> Fields);

    private static List<Vector> Load()
    {
        var list = new List<Vector>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(TestPaths.GoldenVectors))
        {
            lineNo++;
            if (line.Length == 0 || line[0] == '#') continue;
            string[] parts = line.Split(' ');
            var fields = new Dictionary<string, long>();
            foreach (string kv in parts.Skip(3))
            {
                string[] s = kv.Split('=');
                fields[s[0]] = long.Parse(s[1], CultureInfo.InvariantCulture);
            }
            list.Add(new Vector(lineNo, parts[0], Convert.FromHexString(parts[1]), Convert.FromHexString(parts[2]), fields));
        }
        return list;
    }

    [Fact]
    public void Crc16_is_ccitt_false()
    {
        Assert.Equal(0x29B1, Protocol.Crc16("123456789"u8));
    }

    [Fact]
    public void Cobs_matches_every_vector_both_ways_including_every_length_1_to_529()
    {
        var vectors = Load();
        var lengths = new HashSet<int>();
        byte[] buf = new byte[4096];
        foreach (var v in vectors)
        {
            lengths.Add(v.Payload.Length);
            int n = Protocol.CobsEncode(v.Payload, buf);
            Assert.True(n + 1 == v.Wire.Length && buf.AsSpan(0, n).SequenceEqual(v.Wire.AsSpan(0, n)) && v.Wire[^1] == 0,
                $"encode mismatch at line {v.Line}");
            Assert.True(n <= Protocol.CobsMax(v.Payload.Length), $"line {v.Line}: overhead beyond the bound");
            int m = Protocol.CobsDecode(v.Wire.AsSpan(0, v.Wire.Length - 1), buf);
            Assert.True(m == v.Payload.Length && buf.AsSpan(0, m).SequenceEqual(v.Payload), $"decode mismatch at line {v.Line}");
        }
        for (int len = 1; len <= 529; len++) Assert.Contains(len, lengths);
    }

    private sealed class Collect : IFrameHandler
    {
        public readonly List<(FrameType Type, ushort Seq, uint Time, ushort Count, byte[] Payload)> Frames = new();
        public void OnFrame(in Frame f) => Frames.Add((f.Type, f.Sequence, f.DeviceTimeMs, f.Count, f.Payload.ToArray()));
    }

    [Fact]
    public void Frames_decode_to_the_golden_fields_and_reencode_to_the_golden_wire_bytes()
    {
        var frames = Load().Where(v => v.Kind == "frame").ToList();
        Assert.True(frames.Count > 10);
        byte[] buf = new byte[Protocol.MaxWire];
        foreach (var v in frames)
        {
            var dec = new FrameDecoder();
            var sink = new Collect();
            dec.Push(v.Wire, sink);
            var f = Assert.Single(sink.Frames);
            Assert.Equal(v.Fields["type"], (long)f.Type);
            Assert.Equal(v.Fields["seq"], f.Seq);
            Assert.Equal(v.Fields["time"], f.Time);
            Assert.Equal(v.Fields["count"], f.Count);
            Assert.Equal(v.Payload, f.Payload);

            // the C# encoder, given the decoded fields, produces exactly the golden wire bytes
            var enc = new FrameEncoder { Sequence = f.Seq };
            ReadOnlySpan<byte> body = v.Payload.AsSpan(Protocol.HeaderSize, v.Payload.Length - Protocol.HeaderSize - Protocol.CrcSize);
            int n;
            switch (f.Type)
            {
                case FrameType.Heartbeat:
                    n = enc.Heartbeat(f.Time, buf);
                    break;
                case FrameType.DataF32:
                    float[] vals = new float[f.Count];
                    for (int i = 0; i < vals.Length; i++) vals[i] = BitConverter.ToSingle(body.Slice(4 * i, 4));
                    n = enc.DataF32(f.Time, vals, buf);
                    break;
                case FrameType.DataI16:
                    short[] raw = new short[f.Count];
                    for (int i = 0; i < raw.Length; i++) raw[i] = BitConverter.ToInt16(body.Slice(4 + 2 * i, 2));
                    n = enc.DataI16(f.Time, BitConverter.ToSingle(body[..4]), raw, buf);
                    break;
                default:
                    Assert.True(HelloInfo.TryParse(body, out var hello), $"line {v.Line}: hello body does not parse");
                    n = enc.Hello(f.Time, hello!.DeviceId, hello.SamplePeriodUs, hello.ChannelNames, hello.Units, buf);
                    break;
            }
            Assert.True(buf.AsSpan(0, n).SequenceEqual(v.Wire), $"re-encode mismatch at line {v.Line}");
        }
    }

    [Fact]
    public void All_golden_frames_concatenated_decode_in_any_chunking()
    {
        var frames = Load().Where(v => v.Kind == "frame").ToList();
        byte[] stream = frames.SelectMany(v => v.Wire).ToArray();
        var rng = new Random(7);
        foreach (int maxChunk in new[] { 1, 2, 3, 17, 300, stream.Length })
        {
            var dec = new FrameDecoder();
            var sink = new Collect();
            for (int at = 0; at < stream.Length;)
            {
                int n = Math.Min(stream.Length - at, rng.Next(1, maxChunk + 1));
                dec.Push(stream.AsSpan(at, n), sink);
                at += n;
            }
            Assert.Equal(frames.Count, sink.Frames.Count);
            for (int i = 0; i < frames.Count; i++) Assert.Equal(frames[i].Payload, sink.Frames[i].Payload);
            Assert.Equal(0, dec.BadFrames);
        }
    }

    [Fact]
    public void Hello_and_values_round_trip_through_the_frame_accessors()
    {
        var enc = new FrameEncoder();
        byte[] buf = new byte[Protocol.MaxWire * 3];
        int n = enc.Hello(5, "dev", 1000, ["t", "p"], ["C", "kPa"], buf);
        n += enc.DataI16(6, 0.5f, [4, short.MinValue, -6], buf.AsSpan(n));
        n += enc.DataF32(7, [1.5f, float.NaN], buf.AsSpan(n));
        var got = new List<float>();
        HelloInfo? hello = null;
        var h = new Lambda((in Frame f) =>
        {
            if (f.Type == FrameType.Hello) Assert.True(HelloInfo.TryParse(f.Body, out hello));
            else for (int i = 0; i < f.Count; i++) got.Add(f.Value(i));
        });
        new FrameDecoder().Push(buf.AsSpan(0, n), h);
        Assert.Equal("dev", hello!.DeviceId);
        Assert.Equal(["t", "p"], hello.ChannelNames);
        Assert.Equal(["C", "kPa"], hello.Units);
        Assert.Equal(1000u, hello.SamplePeriodUs);
        Assert.Equal(new[] { 2f, float.NaN, -3f, 1.5f, float.NaN }, got);
    }

    internal delegate void FrameAction(in Frame f);
    internal sealed class Lambda(FrameAction a) : IFrameHandler
    {
        public void OnFrame(in Frame f) => a(in f);
    }
}
