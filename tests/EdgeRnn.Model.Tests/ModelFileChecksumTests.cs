using System.Buffers.Binary;
using System.Text;
using EdgeRnn.Model.Training;

namespace EdgeRnn.Model.Tests;

/// <summary>The content checksum (<see cref="SafeTensors.ChecksumKey"/>) and the loader under random damage.</summary>
public sealed class ModelFileChecksumTests
{
    private const string Name = "fuzzed.safetensors";

    private static ForecasterParameters Sample()
    {
        var p = new ForecasterParameters(new ForecasterShape(RnnArch.Lstm, 2, 4, 1, 1));
        Optimization.InitializeUniform(p, 7);
        p.InputMean = [1.5f, -2f];
        p.InputStd = [0.5f, 3f];
        p.Metadata["horizon"] = "3";
        p.Metadata["name"] = "fuzz-target";
        return p;
    }

    [Fact]
    public void Saved_files_carry_a_checksum_that_verifies_and_is_not_kept_as_metadata()
    {
        var p = Sample();
        byte[] file = ModelFile.ToBytes(p);
        Assert.Contains($"\"{SafeTensors.ChecksumKey}\":\"", Encoding.UTF8.GetString(file));
        var q = ModelFile.Read(file, Name);
        Assert.Equal(p.Arena, q.Arena);
        Assert.False(q.Metadata.ContainsKey(SafeTensors.ChecksumKey));
        Assert.Equal(file, ModelFile.ToBytes(q)); // re-save computes the same checksum again
    }

    [Fact]
    public void A_flipped_weight_bit_is_caught_by_the_checksum()
    {
        byte[] file = ModelFile.ToBytes(Sample());
        file[^5] ^= 0x01; // the low mantissa bit of a weight: still finite, still plausible
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.Read(file, Name));
        Assert.Contains("checksum mismatch", e.Message);
        Assert.StartsWith(Name, e.Message);
    }

    [Fact]
    public void A_file_without_a_checksum_still_loads()
    {
        // what tests/python/reference_forecaster.py (a PyTorch export) writes: no checksum entry at all
        var p = Sample();
        var tensors = p.Tensors.Select(t => new SafeTensor(t.Name, t.Shape, p.Arena.AsSpan(t.Offset, t.Length).ToArray())).ToList();
        string header = "{" + string.Join(",", tensors.Select((t, i) =>
        {
            long begin = tensors.Take(i).Sum(x => 4L * x.Data.Length);
            return $"\"{t.Name}\":{{\"dtype\":\"F32\",\"shape\":[{string.Join(",", t.Shape)}],\"data_offsets\":[{begin},{begin + 4L * t.Data.Length}]}}";
        })) + ",\"__metadata__\":{\"arch\":\"lstm\"}}";
        byte[] h = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + h.Length + 4 * p.Arena.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)h.Length);
        h.CopyTo(file, 8);
        Buffer.BlockCopy(p.Arena, 0, file, 8 + h.Length, 4 * p.Arena.Length);
        Assert.Equal(p.Arena, ModelFile.Read(file, Name).Arena);
    }

    [Fact]
    public void A_damaged_checksum_key_is_refused_not_taken_as_an_unchecked_file()
    {
        byte[] file = ModelFile.ToBytes(Sample());
        int at = Encoding.UTF8.GetString(file).IndexOf(SafeTensors.ChecksumKey, StringComparison.Ordinal);
        file[at + 3] ^= 0x02; // "edgernn_crc64" -> "edgfrnn_crc64"
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.Read(file, Name));
        Assert.Contains("damaged", e.Message);
    }

    [Fact]
    public void Invalid_utf8_in_the_header_is_a_clean_error()
    {
        byte[] file = ModelFile.ToBytes(Sample());
        int at = Encoding.UTF8.GetString(file).IndexOf("fuzz-target", StringComparison.Ordinal);
        file[at] = 0xC3; // a lead byte followed by ASCII: invalid UTF-8 inside a string value
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.Read(file, Name));
        Assert.Contains("not valid UTF-8", e.Message);
    }

    /// <summary>
    /// 12,000 damaged copies of a valid file (1-3 random bit flips, a truncation, or both; half the flips aimed at the
    /// header): each either fails with an InvalidDataException naming the file, or loads a model identical to the original
    /// (the damage missed the content, e.g. it hit nothing but the checksum-covered-and-equal layout). Never anything else.
    /// </summary>
    [Fact]
    public void Fuzz_bit_flips_and_truncations_are_clean_errors_or_the_original_model()
    {
        var p = Sample();
        byte[] valid = ModelFile.ToBytes(p);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        var rng = new Random(20261201);
        int rejected = 0, loaded = 0;
        for (int n = 0; n < 12_000; n++)
        {
            byte[] f = (byte[])valid.Clone();
            int kind = rng.Next(4); // 0,1: flips; 2: truncation; 3: both
            if (kind != 2)
            {
                int flips = 1 + rng.Next(3);
                for (int k = 0; k < flips; k++)
                {
                    int at = rng.Next(2) == 0 ? rng.Next(headerEnd) : rng.Next(f.Length);
                    f[at] ^= (byte)(1 << rng.Next(8));
                }
            }
            if (kind >= 2) f = f[..rng.Next(f.Length)];
            try
            {
                var q = ModelFile.Read(f, Name);
                Assert.Equal(p.Arena, q.Arena);
                Assert.Equal(p.InputMean, q.InputMean);
                Assert.Equal(p.InputStd, q.InputStd);
                Assert.Equal(p.Metadata.OrderBy(kv => kv.Key), q.Metadata.OrderBy(kv => kv.Key));
                loaded++;
            }
            catch (InvalidDataException e)
            {
                Assert.StartsWith(Name + ":", e.Message);
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {n} (kind {kind}): {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.Equal(12_000, rejected + loaded);
        Assert.True(rejected > 11_000, $"only {rejected} of 12000 damaged files were refused");
    }
}
