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
/// <para>Content checksum: <see cref="Write"/> adds the metadata entry <see cref="ChecksumKey"/> = 16 hex digits of a CRC-64
/// (ECMA-182, as in xz) over the file's content in canonical form (every tensor's name, dtype, shape and offsets sorted by
/// name; every other metadata entry sorted by key; then the data bytes). <see cref="Read"/> checks it when present and
/// strips it from the metadata it returns, so a re-save computes a fresh one. Canonical, not raw header bytes: a writer that
/// lays the same content out differently (PyTorch's safetensors sorts keys) still verifies, and a file with no checksum
/// (a PyTorch export) loads as before. A metadata key one or two bytes away from <see cref="ChecksumKey"/> is refused as a
/// damaged checksum entry, so a bit flip in the key's name cannot turn a checked file into an unchecked one.</para>
/// </summary>
public static class SafeTensors
{
    /// <summary>Headers beyond this are not a model of ours (the format's own reader caps at 100 MB too).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;
    /// <summary>Floats one tensor may hold: 2^28 (1 GiB), far beyond any edge model.</summary>
    public const long MaxTensorElements = 1L << 28;
    /// <summary>The metadata entry holding the content checksum (16 lowercase hex digits of a CRC-64).</summary>
    public const string ChecksumKey = "edgernn_crc64";

    public static (List<SafeTensor> Tensors, Dictionary<string, string> Metadata) Read(ReadOnlySpan<byte> file, string nameForErrors)
    {
        InvalidDataException Bad(string problem) => new($"{nameForErrors}: not a valid safetensors file: {problem}");

        if (file.Length < 8) throw Bad($"only {file.Length} bytes, shorter than the 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > (ulong)MaxHeaderBytes) throw Bad($"header length {headerLength} is absurd (limit {MaxHeaderBytes})");
        if (headerLength > (ulong)(file.Length - 8)) throw Bad($"header length {headerLength} runs past the end of the file ({file.Length} bytes; truncated?)");
        ReadOnlySpan<byte> headerBytes = file.Slice(8, (int)headerLength);
        ReadOnlySpan<byte> data = file.Slice(8 + (int)headerLength);

        // JsonDocument checks structure but transcodes strings lazily (an invalid byte surfaces later as an
        // InvalidOperationException from GetString), so the whole header is checked as UTF-8 first.
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes))
        {
            int at = FirstInvalidUtf8(headerBytes);
            throw Bad($"header is not valid UTF-8 (byte 0x{headerBytes[at]:x2} at header offset {at})");
        }
        JsonDocument doc;
        try
        {
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
            string? checksum = null;
            foreach (JsonProperty prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name)) throw Bad($"key '{prop.Name}' appears twice in the header");
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ is not an object");
                    foreach (JsonProperty m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad($"__metadata__ value '{m.Name}' is not a string");
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!) || m.Name == ChecksumKey && checksum is not null)
                            throw Bad($"__metadata__ key '{m.Name}' appears twice");
                        if (m.Name == ChecksumKey) { checksum = metadata[m.Name]; metadata.Remove(m.Name); }
                        else if (NearChecksumKey(m.Name)) throw Bad($"__metadata__ key '{m.Name}' looks like a damaged '{ChecksumKey}' entry");
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
            if (checksum is not null)
            {
                if (!ulong.TryParse(checksum, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out ulong stored)
                    || checksum.Length != 16)
                    throw Bad($"__metadata__ '{ChecksumKey}' is '{checksum}', not 16 hex digits");
                ulong actual = ContentChecksum(tensors, ranges, metadata, data);
                if (actual != stored)
                    throw Bad($"content checksum mismatch (file says {checksum}, content is {actual:x16}): the file is damaged");
            }
            return (tensors, metadata);
        }
    }

    /// <summary>Writes tensors in the order given, header padded with spaces to 8 bytes as the reference writer does.</summary>
    /// <remarks>Adds the <see cref="ChecksumKey"/> entry (any such entry in <paramref name="metadata"/> is replaced).</remarks>
    public static void Write(Stream destination, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in metadata) if (kv.Key != ChecksumKey) meta[kv.Key] = kv.Value;
        var ranges = new List<(long Start, long End, string Name)>(tensors.Count);
        long at = 0;
        foreach (var t in tensors) { ranges.Add((at, at + 4L * t.Data.Length, t.Name)); at += 4L * t.Data.Length; }
        byte[] dataBytes = new byte[at];
        for (int i = 0; i < tensors.Count; i++)
        {
            Span<byte> dst = dataBytes.AsSpan((int)ranges[i].Start, (int)(ranges[i].End - ranges[i].Start));
            if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(tensors[i].Data.AsSpan()).CopyTo(dst);
            else for (int k = 0; k < tensors[i].Data.Length; k++) BinaryPrimitives.WriteSingleLittleEndian(dst.Slice(4 * k), tensors[i].Data[k]);
        }
        string crc = ContentChecksum(tensors, ranges, meta, dataBytes).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
        metadata = new Dictionary<string, string>(meta, StringComparer.Ordinal) { [ChecksumKey] = crc };

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
        destination.Write(dataBytes);
    }

    /// <summary>
    /// CRC-64 of the canonical content: tensors sorted by name (name, dtype, rank, dims, offsets), metadata entries other
    /// than the checksum sorted by key (key, value), then the data bytes. Strings are UTF-8, each followed by a 0 byte.
    /// </summary>
    private static ulong ContentChecksum(IReadOnlyList<SafeTensor> tensors, List<(long Start, long End, string Name)> ranges,
        IReadOnlyDictionary<string, string> metadata, ReadOnlySpan<byte> data)
    {
        var canon = new MemoryStream();
        var bw = new BinaryWriter(canon);
        void Str(string s) { bw.Write(System.Text.Encoding.UTF8.GetBytes(s)); bw.Write((byte)0); }
        var byName = new Dictionary<string, (long Start, long End)>(StringComparer.Ordinal);
        foreach (var r in ranges) byName[r.Name] = (r.Start, r.End);
        var order = tensors.OrderBy(t => t.Name, StringComparer.Ordinal);
        foreach (var t in order)
        {
            Str(t.Name);
            Str("F32");
            bw.Write(t.Shape.Length);
            foreach (int d in t.Shape) bw.Write((long)d);
            var (start, end) = byName[t.Name];
            bw.Write(start);
            bw.Write(end);
        }
        Str("__metadata__");
        foreach (var kv in metadata.Where(kv => kv.Key != ChecksumKey).OrderBy(kv => kv.Key, StringComparer.Ordinal)) { Str(kv.Key); Str(kv.Value); }
        bw.Flush();
        ulong crc = Crc64.Update(ulong.MaxValue, canon.GetBuffer().AsSpan(0, (int)canon.Length));
        return Crc64.Update(crc, data) ^ ulong.MaxValue;
    }

    /// <summary>Same length as the checksum key and at most two bytes different: a damaged copy of it.</summary>
    private static bool NearChecksumKey(string key)
    {
        if (key.Length != ChecksumKey.Length) return false;
        int diff = 0;
        for (int i = 0; i < key.Length; i++) if (key[i] != ChecksumKey[i] && ++diff > 2) return false;
        return true;
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        System.Text.Unicode.Utf8.ToUtf16(bytes, chars, out int read, out _, replaceInvalidSequences: false);
        return Math.Min(read, bytes.Length - 1);
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

/// <summary>CRC-64/XZ (ECMA-182 polynomial, reflected), table-driven; no package needed and no OpenSSL (unlike SHA-256 on Linux).</summary>
internal static class Crc64
{
    private static readonly ulong[] Table = Build();

    private static ulong[] Build()
    {
        var t = new ulong[256];
        for (ulong i = 0; i < 256; i++)
        {
            ulong c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xC96C5795D7870F42UL ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    /// <summary>Continues a CRC: start from ulong.MaxValue, xor the end result with ulong.MaxValue.</summary>
    public static ulong Update(ulong crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) crc = Table[(int)((crc ^ b) & 0xFF)] ^ (crc >> 8);
        return crc;
    }
}
