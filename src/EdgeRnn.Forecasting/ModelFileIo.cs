using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using EdgeRnn.Model;

namespace EdgeRnn.Forecasting;

/// <summary>
/// Safetensors read/write for <see cref="ForecasterParameters"/> (temporary, until the engine's ModelFile lands):
/// tensors in state_dict order, all F32, metadata as strings; written temp + fsync + rename so a crash never leaves a torn file.
/// </summary>
public static class ModelFileIo
{
    public static void Save(string path, ForecasterParameters p)
    {
        var meta = new Dictionary<string, string>(p.Metadata, StringComparer.Ordinal) { ["arch"] = p.Shape.Arch.ToSpecName() };
        if (p.InputMean is not null) meta["input_mean"] = JsonSerializer.Serialize(p.InputMean, ForecastJsonContext.Default.SingleArray);
        if (p.InputStd is not null) meta["input_std"] = JsonSerializer.Serialize(p.InputStd, ForecastJsonContext.Default.SingleArray);
        if (p.OutputMean is not null) meta["output_mean"] = JsonSerializer.Serialize(p.OutputMean, ForecastJsonContext.Default.SingleArray);
        if (p.OutputStd is not null) meta["output_std"] = JsonSerializer.Serialize(p.OutputStd, ForecastJsonContext.Default.SingleArray);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            foreach (var t in p.Tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape"); foreach (int d in t.Shape) w.WriteNumberValue(d); w.WriteEndArray();
                w.WriteStartArray("data_offsets"); w.WriteNumberValue(4L * t.Offset); w.WriteNumberValue(4L * (t.Offset + t.Length)); w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteStartObject("__metadata__");
            foreach (var kv in meta.OrderBy(k => k.Key, StringComparer.Ordinal)) w.WriteString(kv.Key, kv.Value);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        string tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)ms.Length);
            f.Write(len);
            f.Write(ms.GetBuffer(), 0, (int)ms.Length);
            var bytes = new byte[p.Arena.Length * 4];
            for (int i = 0; i < p.Arena.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), p.Arena[i]);
            f.Write(bytes);
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    public static ForecasterParameters Load(string path)
    {
        byte[] all = File.ReadAllBytes(path);
        if (all.Length < 8) throw new InvalidDataException($"{path}: too short for a safetensors file");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(all);
        if (n > (ulong)all.Length - 8) throw new InvalidDataException($"{path}: header length {n} exceeds the file");
        using var doc = JsonDocument.Parse(all.AsMemory(8, (int)n));
        var root = doc.RootElement;
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("__metadata__", out var m)) foreach (var kv in m.EnumerateObject()) meta[kv.Name] = kv.Value.GetString() ?? "";
        if (!meta.TryGetValue("arch", out string? archName) || !RnnArchInfo.TryParse(archName, out var arch))
            throw new InvalidDataException($"{path}: metadata 'arch' missing or unknown");
        int[] Shape(string name) => root.TryGetProperty(name, out var t)
            ? t.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray()
            : throw new InvalidDataException($"{path}: tensor '{name}' missing");
        int layers = 0;
        while (root.TryGetProperty($"rnn.weight_ih_l{layers}", out _)) layers++;
        int[] ih0 = Shape("rnn.weight_ih_l0"), head = Shape("head.weight");
        var shape = new ForecasterShape(arch, ih0[1], head[1], layers, head[0]);
        var p = new ForecasterParameters(shape);
        int dataStart = 8 + (int)n;
        foreach (var t in p.Tensors)
        {
            var e = root.GetProperty(t.Name);
            if (e.GetProperty("dtype").GetString() != "F32") throw new InvalidDataException($"{path}: tensor '{t.Name}' is not F32");
            int[] s = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            if (!s.SequenceEqual(t.Shape)) throw new InvalidDataException($"{path}: tensor '{t.Name}' has shape [{string.Join(",", s)}], expected [{string.Join(",", t.Shape)}]");
            long a = e.GetProperty("data_offsets")[0].GetInt64();
            if (dataStart + a + 4L * t.Length > all.Length) throw new InvalidDataException($"{path}: tensor '{t.Name}' runs past the end of the file");
            for (int i = 0; i < t.Length; i++) p.Arena[t.Offset + i] = BinaryPrimitives.ReadSingleLittleEndian(all.AsSpan((int)(dataStart + a + 4 * i)));
        }
        float[]? Arr(string k) => meta.Remove(k, out string? v) ? JsonSerializer.Deserialize(v, ForecastJsonContext.Default.SingleArray) : null;
        meta.Remove("arch");
        p.InputMean = Arr("input_mean"); p.InputStd = Arr("input_std"); p.OutputMean = Arr("output_mean"); p.OutputStd = Arr("output_std");
        foreach (var kv in meta) p.Metadata[kv.Key] = kv.Value;
        return p;
    }
}
