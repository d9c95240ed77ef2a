using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using EdgeRnn.Model.Training;

namespace EdgeRnn.Model.Tests;

public sealed class ModelFileTests
{
    private const string Name = "bad-model.safetensors";

    private static ForecasterParameters Sample(RnnArch arch = RnnArch.Gru, int layers = 2)
    {
        var p = new ForecasterParameters(new ForecasterShape(arch, 3, 5, layers, 2));
        Optimization.InitializeUniform(p, 1);
        return p;
    }

    /// <summary>A header entry as the file holds it, editable before re-serialising.</summary>
    private sealed class Entry
    {
        public required string Name;
        public string Dtype = "F32";
        public required long[] Shape;
        public long Begin, End;
    }

    /// <summary>Builds a file from the sample model's tensors after letting a test damage the header or the data.</summary>
    private static byte[] Build(Action<List<Entry>, Dictionary<string, string>>? edit = null, Func<byte[], byte[]>? editData = null, ForecasterParameters? p = null)
    {
        p ??= Sample();
        var entries = new List<Entry>();
        long offset = 0;
        foreach (var t in p.Tensors)
        {
            entries.Add(new Entry { Name = t.Name, Shape = t.Shape.Select(d => (long)d).ToArray(), Begin = offset, End = offset + 4L * t.Length });
            offset += 4L * t.Length;
        }
        var meta = new Dictionary<string, string> { ["arch"] = p.Shape.Arch.ToSpecName() };
        edit?.Invoke(entries, meta);
        var data = new byte[p.Arena.Length * 4];
        Buffer.BlockCopy(p.Arena, 0, data, 0, data.Length);
        if (editData is not null) data = editData(data);
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            foreach (var e in entries)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", e.Dtype);
                w.WriteStartArray("shape"); foreach (long d in e.Shape) w.WriteNumberValue(d); w.WriteEndArray();
                w.WriteStartArray("data_offsets"); w.WriteNumberValue(e.Begin); w.WriteNumberValue(e.End); w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteStartObject("__metadata__");
            foreach (var kv in meta) w.WriteString(kv.Key, kv.Value);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Frame(ms.ToArray(), data);
    }

    private static byte[] Frame(byte[] header, byte[] data)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    private static void Fails(byte[] file, params string[] fragments)
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.Read(file, Name));
        Assert.StartsWith(Name + ":", e.Message);
        foreach (string f in fragments) Assert.Contains(f, e.Message);
    }

    [Fact]
    public void The_builder_makes_a_valid_file()
    {
        var p = Sample();
        var q = ModelFile.Read(Build(p: p), Name);
        Assert.Equal(p.Shape, q.Shape);
        Assert.Equal(p.Arena, q.Arena);
    }

    [Fact]
    public void Tensors_may_come_in_any_order()
    {
        // The safetensors package stores tensors sorted by its own rules, not in state_dict order.
        var p = Sample(RnnArch.Lstm, 2);
        var reversed = p.Tensors.Reverse().ToList();
        var bytes = Build((e, _) =>
        {
            long offset = 0;
            foreach (var t in reversed)
            {
                var entry = e.Single(x => x.Name == t.Name);
                entry.Begin = offset; entry.End = offset + 4L * t.Length; offset = entry.End;
            }
        }, d =>
        {
            var r = new List<byte>();
            foreach (var t in reversed) r.AddRange(d.AsSpan(4 * t.Offset, 4 * t.Length).ToArray());
            return [.. r];
        }, p);
        Assert.Equal(p.Arena, ModelFile.Read(bytes, Name).Arena);
    }

    [Fact] public void Shorter_than_the_length_prefix() => Fails([1, 2, 3], "shorter than the 8-byte header length");

    [Fact]
    public void Truncated_data() => Fails(Build()[..^10], "run past", "truncated");

    [Fact]
    public void Header_length_past_the_end()
    {
        var f = Build();
        BinaryPrimitives.WriteUInt64LittleEndian(f, (ulong)f.Length);
        Fails(f, "runs past the end");
    }

    [Fact]
    public void Absurd_header_length()
    {
        var f = Build();
        BinaryPrimitives.WriteUInt64LittleEndian(f, ulong.MaxValue - 3);
        Fails(f, "absurd");
    }

    [Fact] public void Bad_json() => Fails(Frame(Encoding.UTF8.GetBytes("{\"arch\": nope"), []), "not valid JSON");

    [Fact] public void Header_not_an_object() => Fails(Frame(Encoding.UTF8.GetBytes("[1, 2]"), []), "not a JSON object");

    [Fact] public void Wrong_dtype() => Fails(Build((e, _) => e[1].Dtype = "F16"), "rnn.weight_hh_l0", "F16");

    [Fact]
    public void Shape_disagreeing_with_data_size() => Fails(Build((e, _) => e[0].Shape = [15, 2]), "rnn.weight_ih_l0", "needs");

    [Fact]
    public void Shapes_that_do_not_agree_with_each_other()
    {
        // head.weight [2, 5] relabelled [5, 2]: the byte count still fits, the model does not.
        Fails(Build((e, _) => e.First(x => x.Name == "head.weight").Shape = [5, 2]), "head.weight", "hidden size 5");
    }

    [Fact]
    public void Hidden_size_not_matching_the_gates() => Fails(Build((e, _) => e[1].Shape = [5, 15]), "rnn.weight_hh_l0", "needs");

    [Fact]
    public void Missing_tensor()
    {
        Fails(Build((e, _) => e.RemoveAll(x => x.Name == "rnn.bias_hh_l1"), d => d), "belong to no tensor");
        // Removed with its bytes too: then it is the model that is incomplete.
        var p = Sample();
        var t = p.Find("head.bias")!.Value;
        Fails(Build((e, _) => e.RemoveAll(x => x.Name == "head.bias"), d => d[..(t.Offset * 4)], p), "missing tensor 'head.bias'");
    }

    [Fact]
    public void Unexpected_tensor()
    {
        Fails(Build((e, _) =>
        {
            var head = e.First(x => x.Name == "head.bias");
            e.Add(new Entry { Name = "head.extra", Shape = [1], Begin = head.End, End = head.End + 4 });
        }, d => [.. d, 0, 0, 0, 0]), "unexpected tensor 'head.extra'");
    }

    [Fact] public void Unknown_arch() => Fails(Build((_, m) => m["arch"] = "transformer"), "unknown arch 'transformer'");

    [Fact] public void Missing_arch() => Fails(Build((_, m) => m.Remove("arch")), "no 'arch'");

    [Fact]
    public void Arch_disagreeing_with_shapes() => Fails(Build((_, m) => m["arch"] = "lstm"), "rnn.weight_hh_l0");

    [Fact]
    public void Absurd_sizes()
    {
        Fails(Build((e, _) => e[0].Shape = [1L << 40, 3]), "absurd");
        // Zero hidden units: well-formed container, impossible model.
        var empty = Frame(Encoding.UTF8.GetBytes("""
            {"rnn.weight_ih_l0":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},
             "rnn.weight_hh_l0":{"dtype":"F32","shape":[0,0],"data_offsets":[0,0]},
             "head.weight":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]},
             "__metadata__":{"arch":"rnn_tanh"}}
            """), []);
        Fails(empty, "out of range");
    }

    [Fact]
    public void Non_finite_weight()
    {
        Fails(Build(editData: d => { BinaryPrimitives.WriteSingleLittleEndian(d.AsSpan(8), float.NaN); return d; }), "rnn.weight_ih_l0", "non-finite");
        Fails(Build(editData: d => { BinaryPrimitives.WriteSingleLittleEndian(d.AsSpan(d.Length - 4), float.PositiveInfinity); return d; }), "head.bias", "non-finite");
    }

    [Fact]
    public void Overlapping_offsets() => Fails(Build((e, _) => { e[1].Begin -= 4; e[1].End -= 4; }), "overlaps");

    [Fact]
    public void Out_of_range_offsets()
    {
        Fails(Build((e, _) => { e[^1].Begin += 1000; e[^1].End += 1000; }), "head.bias", "run past");
        Fails(Build((e, _) => { e[0].Begin = 8; e[0].End = 4; }), "begin <= end");
        Fails(Build((e, _) => { e[0].Begin = -4; }), "begin <= end");
    }

    [Fact]
    public void Bad_normalization_metadata()
    {
        Fails(Build((_, m) => m["input_mean"] = "[1, 2"), "input_mean", "not valid JSON");
        Fails(Build((_, m) => m["input_mean"] = "{\"a\": 1}"), "input_mean", "not a JSON array");
        Fails(Build((_, m) => m["input_std"] = "[1, 2]"), "input_std", "2 values, expected 3");
        Fails(Build((_, m) => m["output_std"] = "[1, 0]"), "output_std", "must be > 0");
        Fails(Build((_, m) => m["output_mean"] = "[1, \"x\"]"), "output_mean", "not a number");
        Fails(Build((_, m) => m["input_mean"] = "[1, 2, 1e999]"), "input_mean");
    }

    [Fact]
    public void Duplicate_and_non_string_metadata()
    {
        Fails(Frame(Encoding.UTF8.GetBytes("""{"__metadata__":{"arch":"gru"},"__metadata__":{"arch":"lstm"}}"""), []), "appears twice");
        Fails(Frame(Encoding.UTF8.GetBytes("""{"__metadata__":{"arch":3}}"""), []), "not a string");
    }

    [Fact]
    public void Write_then_read_keeps_every_bit_and_every_key()
    {
        foreach (RnnArch arch in Enum.GetValues<RnnArch>())
        {
            var p = Sample(arch, 2);
            p.InputMean = [0.1f, -1e-7f, 3.4e38f];
            p.InputStd = [1f / 3, 2f, 5e-5f];
            p.OutputMean = [float.Epsilon, -0f];
            p.OutputStd = [1.5f, 1e10f];
            p.Metadata["name"] = "x";
            p.Metadata["targets"] = "[\"a\",\"b\"]";
            var q = ModelFile.Read(ModelFile.ToBytes(p), Name);
            Assert.Equal(p.Shape, q.Shape);
            Assert.Equal(p.Arena, q.Arena);
            Assert.Equal(p.InputMean, q.InputMean);
            Assert.Equal(p.InputStd, q.InputStd);
            Assert.Equal(p.OutputMean, q.OutputMean);
            Assert.Equal(p.OutputStd, q.OutputStd);
            Assert.Equal(p.Metadata.OrderBy(k => k.Key), q.Metadata.OrderBy(k => k.Key));
        }
    }

    [Fact]
    public void Save_replaces_atomically_and_refuses_non_finite_weights()
    {
        string dir = Path.Combine(Path.GetTempPath(), "edgernn-save-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "m.safetensors");
            var p = Sample();
            ModelFile.Save(p, path);
            var before = File.ReadAllBytes(path);
            var bad = p.Clone();
            bad.Arena[3] = float.NaN;
            Assert.Throws<InvalidOperationException>(() => ModelFile.Save(bad, path));
            Assert.Equal(before, File.ReadAllBytes(path));
            var zeroStd = p.Clone();
            zeroStd.InputStd = [1f, 0f, 1f];
            Assert.Contains("input_std[1]", Assert.Throws<InvalidOperationException>(() => ModelFile.Save(zeroStd, path)).Message);
            Assert.Equal(before, File.ReadAllBytes(path));
            using (var fs = File.OpenRead(path)) Assert.Equal(p.Arena, ModelFile.Read(fs, path).Arena);
            var other = Sample(RnnArch.Lstm, 1);
            ModelFile.Save(other, path);
            Assert.Equal(other.Arena, ModelFile.Load(path).Arena);
            Assert.Equal(["m.safetensors"], Directory.GetFiles(dir).Select(Path.GetFileName));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Directory_fsync_is_available_on_linux()
    {
        if (OperatingSystem.IsLinux()) Assert.True(AtomicFile.DirectorySyncAvailable);
        else Assert.Equal(!OperatingSystem.IsWindows(), AtomicFile.DirectorySyncAvailable);
    }

    [Fact]
    public void Missing_file_is_named()
    {
        string path = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + ".safetensors");
        Assert.Contains(path, Assert.Throws<FileNotFoundException>(() => ModelFile.Load(path)).Message);
    }
}
