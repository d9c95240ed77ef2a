using System.Buffers.Binary;
using System.Text;
using EdgeRnn.Forecasting;

namespace EdgeRnn.Daemon.Tests;

public sealed class CheckpointCodecTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-codec-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static string Model => Path.Combine(Harness.Root, "models", "machine_temperature.safetensors");

    private static StreamForecaster Fed(int rows)
    {
        var f = StreamForecaster.Load(Model, new StreamForecasterOptions { Precision = Precision.Float32, FineTune = false });
        var y = new float[f.Horizon];
        for (int t = 0; t < rows; t++) f.Observe([80f + 5f * MathF.Sin(t * 0.05f)], y);
        return f;
    }

    private static float[] Next(StreamForecaster f, int t)
    {
        var y = new float[f.Horizon];
        f.Observe([80f + 5f * MathF.Sin(t * 0.05f)], y);
        return y;
    }

    /// <summary>
    /// A checkpoint as the writers before the codec wrote it (file version 1; the body repeated the "ERCK" magic before the
    /// forecaster's version): the store loads it, the codec restores it, and the stream resumes exactly.
    /// </summary>
    [Fact]
    public void Version_1_files_still_load_and_resume_exactly()
    {
        using var a = Fed(600);
        byte[] section;
        using (var ms = new MemoryStream())
        {
            using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true)) a.WriteCheckpoint(w);
            section = ms.ToArray();
        }
        byte[] body;
        using (var ms = new MemoryStream())
        {
            using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(a.ModelName); w.Write(a.ModelVersion); w.Write(1_700_000_000_000L);
                w.Write(0x4B435245); w.Write(3); w.Write(section);
            }
            body = ms.ToArray();
        }
        byte[] file = new byte[24 + body.Length];
        "ERCK"u8.CopyTo(file);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(4), 1);
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(8), 7);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(16), (uint)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(20), Crc32.Compute(body));
        body.CopyTo(file.AsSpan(24));
        File.WriteAllBytes(Path.Combine(_dir, "s.ckpt.1"), file);

        var loaded = new CheckpointStore(_dir, "s").LoadAll();
        Assert.Equal(7, Assert.Single(loaded).Generation);
        using var b = StreamForecaster.Load(Model, new StreamForecasterOptions { Precision = Precision.Float32, FineTune = false });
        var id = CheckpointCodec.Restore(loaded[0].Payload, b);
        Assert.Equal(new CheckpointIdentity(a.ModelName, a.ModelVersion, 1_700_000_000_000L), id);
        for (int t = 600; t < 610; t++) Assert.Equal(Next(a, t), Next(b, t));
        // and the next save is a version 2 file, generation 8, without the inner magic
        Assert.Equal(8, new CheckpointStore(_dir, "s").Save(CheckpointCodec.EncodeBody(id, b)));
        byte[] v2 = File.ReadAllBytes(Path.Combine(_dir, "s.ckpt.0"));
        Assert.Equal(CheckpointCodec.FileVersion, BinaryPrimitives.ReadUInt32LittleEndian(v2.AsSpan(4)));
        Assert.Equal(-1, v2.AsSpan(24).IndexOf("ERCK"u8));
    }

    [Fact]
    public void Version_2_round_trip_resumes_exactly_and_damage_is_refused()
    {
        using var a = Fed(500);
        byte[] body = CheckpointCodec.EncodeBody(new CheckpointIdentity(a.ModelName, a.ModelVersion, 42), a);
        Assert.Equal(42, CheckpointCodec.ReadIdentity(body).LastTimestampMs);
        byte[] file = CheckpointCodec.EncodeFile(3, body);
        Assert.True(CheckpointCodec.TryDecodeFile(file, out long gen, out byte[]? back));
        Assert.Equal(3, gen);
        using var b = StreamForecaster.Load(Model, new StreamForecasterOptions { Precision = Precision.Float32, FineTune = false });
        CheckpointCodec.Restore(back!, b);
        for (int t = 500; t < 510; t++) Assert.Equal(Next(a, t), Next(b, t));

        file[30] ^= 4; // a flipped bit fails the CRC
        Assert.False(CheckpointCodec.TryDecodeFile(file, out _, out _));
        file[30] ^= 4; BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(4), 9); // a version from the future
        Assert.False(CheckpointCodec.TryDecodeFile(file, out _, out _));
        using var c = StreamForecaster.Load(Model, new StreamForecasterOptions { Precision = Precision.Float32, FineTune = false });
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => CheckpointCodec.Restore(body[..(body.Length / 2)], c)).Message);
    }
}
