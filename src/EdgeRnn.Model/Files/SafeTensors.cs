using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace EdgeRnn.Model;

/// <summary>One float32 tensor of a safetensors file.</summary>
public sealed record SafeTensor(string Name, int[] Shape, float[] Data);

/// <summary>
/// The safetensors container (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a JSON
/// header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the raw bytes. Only F32 is
/// accepted: every EdgeRnn tensor is float32, and a model stored in another dtype is an error, not a silent conversion.
/// Every structural fault is an <see cref="InvalidDataException"/> naming the file and the fault.
/// </summary>
public static class SafeTensors
{
    /// <summary>Headers beyond this are not a model of ours (the format's own reader caps at 100 MB too).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;
    /// <summary>Floats one tensor may hold: 2^28 (1 GiB), far beyond any edge model.</summary>
    public const long MaxTensorElements = 1L << 28;

    public static (List<SafeTensor> Tensors, Dictionary<string, string> Metadata) Read(ReadOnlySpan<byte> file, string nameForErrors)
    {
        InvalidDataException Bad(string problem) => new($"{nameForErrors}: not a valid safetensors file: {problem}");

        if (file.Length < 8) throw Bad($"only {file.Length} bytes, shorter than the 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > (ulong)MaxHeaderBytes) throw Bad($"header length {headerLength} is absurd (limit {MaxHeaderBytes})");
        if (headerLength > (ulong)(file.Length - 8)) throw Bad($"header length {headerLength} runs past the end of the file ({file.Length} bytes; truncated?)");
        ReadOnlySpan<byte> headerBytes = file.Slice(8, (int)headerLength);
        ReadOnlySpan<byte> data = file.Slice(8 + (int)headerLength);

        JsonDocument doc;
        try
        {
            // The header is plain JSON; Utf8JsonReader validates UTF-8 and structure.
            doc = JsonDocument.Parse(headerBytes.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Bad($"header is not valid JSON ({e.Message})");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("header is not a JSON object");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafeTensor>();
            var ranges = new List<(long Start, long End, string Name)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name)) throw Bad($"key '{prop.Name}' appears twice in the header");
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ is not an object");
                    foreach (JsonProperty m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad($"__metadata__ value '{m.Name}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                var t = prop.Value;
                if (t.ValueKind != JsonValueKind.Object) throw Bad($"tensor '{prop.Name}' entry is not an object");
                if (!t.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String)
                    throw Bad($"tensor '{prop.Name}' has no dtype");
                if (dtype.GetString() != "F32") throw Bad($"tensor '{prop.Name}' has dtype {dtype.GetString()}, only F32 is supported");
                if (!t.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
                    throw Bad($"tensor '{prop.Name}' has no shape array");
                if (shapeEl.GetArrayLength() > 8) throw Bad($"tensor '{prop.Name}' has {shapeEl.GetArrayLength()} dimensions");
                var shape = new int[shapeEl.GetArrayLength()];
                long elements = 1;
                int d = 0;
                foreach (var dim in shapeEl.EnumerateArray())
                {
                    if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long v) || v < 0)
                        throw Bad($"tensor '{prop.Name}' has a shape entry that is not a non-negative integer");
                    if (v > MaxTensorElements) throw Bad($"tensor '{prop.Name}' dimension {v} is absurd");
                    elements *= v;
                    if (elements > MaxTensorElements) throw Bad($"tensor '{prop.Name}' has an absurd number of elements");
                    shape[d++] = (int)v;
                }
                if (!t.TryGetProperty("data_offsets", out var offs) || offs.ValueKind != JsonValueKind.Array || offs.GetArrayLength() != 2)
                    throw Bad($"tensor '{prop.Name}' has no data_offsets pair");
                if (!offs[0].TryGetInt64(out long start) || !offs[1].TryGetInt64(out long end) || start < 0 || end < start)
                    throw Bad($"tensor '{prop.Name}' has data_offsets that are not 0 <= begin <= end");
                if (end > data.Length)
                    throw Bad($"tensor '{prop.Name}' data_offsets [{start}, {end}] run past the {data.Length} data bytes (truncated?)");
                if (end - start != elements * 4)
                    throw Bad($"tensor '{prop.Name}' data_offsets span {end - start} bytes but shape [{string.Join(", ", shape)}] needs {elements * 4}");
                var values = new float[elements];
                ReadOnlySpan<byte> raw = data.Slice((int)start, (int)(end - start));
                if (BitConverter.IsLittleEndian) MemoryMarshal.Cast<byte, float>(raw).CopyTo(values);
                else for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(4 * i));
                tensors.Add(new SafeTensor(prop.Name, shape, values));
                ranges.Add((start, end, prop.Name));
            }

            // The format requires the data to be covered exactly: no overlaps (two tensors aliasing bytes), no holes.
            ranges.Sort((x, y) => x.Start != y.Start ? x.Start.CompareTo(y.Start) : x.End.CompareTo(y.End));
            long cursor = 0;
            string? previous = null;
            foreach (var r in ranges)
            {
                if (r.Start < cursor) throw Bad($"tensor '{r.Name}' data overlaps tensor '{previous}'");
                if (r.Start > cursor) throw Bad($"{r.Start - cursor} bytes before tensor '{r.Name}' belong to no tensor");
                cursor = r.End;
                previous = r.Name;
            }
            if (cursor != data.Length) throw Bad($"{data.Length - cursor} trailing data bytes belong to no tensor");
            return (tensors, metadata);
        }
    }

    /// <summary>Writes tensors in the order given, header padded with spaces to 8 bytes as the reference writer does.</summary>
    public static void Write(Stream destination, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var header = new MemoryStream();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            long offset = 0;
            foreach (var t in tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                foreach (int d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += 4L * t.Data.Length;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteStartObject("__metadata__");
            foreach (var kv in metadata) w.WriteString(kv.Key, kv.Value);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        destination.Write(len);
        header.Position = 0;
        header.CopyTo(destination);
        foreach (var t in tensors)
        {
            if (BitConverter.IsLittleEndian) destination.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
            else
            {
                var buf = new byte[4];
                foreach (float f in t.Data) { BinaryPrimitives.WriteSingleLittleEndian(buf, f); destination.Write(buf); }
            }
        }
    }

    /// <summary>Reads a whole file (bounded: a model file beyond 2 GB is refused with a clear error).</summary>
    public static byte[] ReadAllBytes(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: no such file", path);
        if (info.Length > int.MaxValue) throw new InvalidDataException($"{path}: {info.Length} bytes is too large for a model file");
        return File.ReadAllBytes(path);
    }

}
