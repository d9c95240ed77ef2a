using System.Globalization;
using System.Text;
using System.Text.Json;

namespace EdgeRnn.Model;

/// <summary>
/// EdgeRnn model files: safetensors holding the PyTorch state_dict of the reference Forecaster
/// (tests/python/reference_forecaster.py) with metadata "arch" and optional "input_mean", "input_std", "output_mean",
/// "output_std" (JSON arrays as strings). Sizes are inferred from tensor shapes. Every other metadata key is kept in
/// <see cref="ForecasterParameters.Metadata"/> and written back. Loading is strict, like load_state_dict(strict=True):
/// missing, unexpected or mis-shaped tensors, non-finite weights and bad normalization are errors naming the file.
/// </summary>
public static class ModelFile
{
    public const string ArchKey = "arch";
    public static readonly string[] NormalizationKeys = ["input_mean", "input_std", "output_mean", "output_std"];

    public static ForecasterParameters Load(string path) => Read(SafeTensors.ReadAllBytes(path), path);

    /// <summary>Reads a model from the rest of a stream (e.g. one embedded in a checkpoint).</summary>
    public static ForecasterParameters Read(Stream source, string nameForErrors)
    {
        using var ms = new MemoryStream();
        source.CopyTo(ms);
        return Read(ms.GetBuffer().AsSpan(0, (int)ms.Length), nameForErrors);
    }

    /// <summary>
    /// Reads the network of a model file. For an EdgeRnn forecaster file (metadata "format" = <see cref="ForecasterFormat"/>)
    /// that is its recurrent network and head alone (the scaler.* and skip.* tensors belong to the whole forecaster, which
    /// EdgeRnn.Forecasting reads), so `predict` stays the network-level command for every file.
    /// </summary>
    public static ForecasterParameters Read(ReadOnlySpan<byte> file, string nameForErrors)
    {
        var (tensors, metadata) = SafeTensors.Read(file, nameForErrors);
        if (metadata.TryGetValue(FormatKey, out string? format) && format == ForecasterFormat)
            tensors = tensors.Where(t => t.Name.StartsWith("rnn.", StringComparison.Ordinal) || t.Name.StartsWith("head.", StringComparison.Ordinal)).ToList();
        return FromTensors(tensors, metadata, nameForErrors);
    }

    /// <summary>The "format" metadata key and the value a v2 EdgeRnn forecaster file carries (docs/model-format.md).</summary>
    public const string FormatKey = "format";
    public const string ForecasterFormat = "edgernn-forecaster/2";

    /// <summary>The network part of already-decoded safetensors: strict like load_state_dict(strict=True).</summary>
    public static ForecasterParameters FromTensors(IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata, string nameForErrors)
    {
        InvalidDataException Bad(string problem) => new($"{nameForErrors}: not a valid EdgeRnn model: {problem}");

        if (!metadata.TryGetValue(ArchKey, out string? archName)) throw Bad("metadata has no 'arch' key");
        if (!RnnArchInfo.TryParse(archName, out RnnArch arch)) throw Bad($"unknown arch '{archName}' (expected lstm, gru, rnn_tanh or rnn_relu)");

        var byName = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var t in tensors) byName[t.Name] = t;

        SafeTensor Need(string name) => byName.TryGetValue(name, out var t) ? t : throw Bad($"missing tensor '{name}'");
        int gates = arch.GateCount();
        var ih0 = Need("rnn.weight_ih_l0");
        var hh0 = Need("rnn.weight_hh_l0");
        var head = Need("head.weight");
        if (ih0.Shape.Length != 2) throw Bad($"rnn.weight_ih_l0 has {ih0.Shape.Length} dimensions, expected 2");
        if (hh0.Shape.Length != 2) throw Bad($"rnn.weight_hh_l0 has {hh0.Shape.Length} dimensions, expected 2");
        if (head.Shape.Length != 2) throw Bad($"head.weight has {head.Shape.Length} dimensions, expected 2");
        int hidden = hh0.Shape[1];
        if (hh0.Shape[0] != gates * hidden)
            throw Bad($"rnn.weight_hh_l0 is [{hh0.Shape[0]}, {hh0.Shape[1]}] but {archName} with hidden {hidden} needs [{gates * hidden}, {hidden}]");
        int input = ih0.Shape[1];
        int layers = 0;
        while (byName.ContainsKey($"rnn.weight_ih_l{layers}")) layers++;
        int output = head.Shape[0];
        if (head.Shape[1] != hidden) throw Bad($"head.weight is [{head.Shape[0]}, {head.Shape[1]}] but the recurrent layers have hidden size {hidden}");

        ForecasterShape shape = new(arch, input, hidden, layers, output);
        ForecasterParameters p;
        try { p = new ForecasterParameters(shape); }
        catch (ArgumentOutOfRangeException e) { throw Bad($"sizes input {input}, hidden {hidden}, layers {layers}, output {output} are out of range ({e.Message.Split('\n')[0]})"); }

        foreach (var expected in p.Tensors)
        {
            var t = Need(expected.Name);
            if (!t.Shape.AsSpan().SequenceEqual(expected.Shape))
                throw Bad($"tensor '{expected.Name}' has shape [{string.Join(", ", t.Shape)}], expected [{string.Join(", ", expected.Shape)}] (input {input}, hidden {hidden}, output {output}, {archName})");
            for (int i = 0; i < t.Data.Length; i++)
                if (!float.IsFinite(t.Data[i])) throw Bad($"tensor '{expected.Name}' holds a non-finite value ({t.Data[i].ToString(CultureInfo.InvariantCulture)}) at element {i}");
            t.Data.CopyTo(p.Arena, expected.Offset);
            byName.Remove(expected.Name);
        }
        if (byName.Count > 0) throw Bad($"unexpected tensor '{byName.Keys.First()}' (not part of a {layers}-layer {archName} forecaster)");

        p.InputMean = ReadVector(metadata, "input_mean", input, positive: false, Bad);
        p.InputStd = ReadVector(metadata, "input_std", input, positive: true, Bad);
        p.OutputMean = ReadVector(metadata, "output_mean", output, positive: false, Bad);
        p.OutputStd = ReadVector(metadata, "output_std", output, positive: true, Bad);
        foreach (var kv in metadata)
            if (kv.Key != ArchKey && Array.IndexOf(NormalizationKeys, kv.Key) < 0) p.Metadata[kv.Key] = kv.Value;
        return p;
    }

    private static float[]? ReadVector(IReadOnlyDictionary<string, string> metadata, string key, int length, bool positive, Func<string, InvalidDataException> bad)
    {
        if (!metadata.TryGetValue(key, out string? text)) return null;
        var values = new List<float>();
        try
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray) throw bad($"metadata '{key}' is not a JSON array");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out double v))
                    throw bad($"metadata '{key}' element {values.Count} is not a number");
                values.Add((float)v);
            }
            if (reader.TokenType != JsonTokenType.EndArray || reader.Read()) throw bad($"metadata '{key}' has text after its array");
        }
        catch (JsonException e)
        {
            throw bad($"metadata '{key}' is not valid JSON ({e.Message})");
        }
        if (values.Count != length) throw bad($"metadata '{key}' has {values.Count} values, expected {length}");
        for (int i = 0; i < values.Count; i++)
        {
            if (!float.IsFinite(values[i])) throw bad($"metadata '{key}' element {i} is not finite");
            if (positive && !(values[i] > 0f)) throw bad($"metadata '{key}' element {i} is {values[i].ToString(CultureInfo.InvariantCulture)}, a standard deviation must be > 0");
        }
        return values.ToArray();
    }

    /// <summary>Writes the model atomically (temp file, fsync, rename, fsync directory).</summary>
    public static void Save(ForecasterParameters p, string path) => AtomicFile.Write(path, s => Write(p, s));

    public static void Write(ForecasterParameters p, Stream destination)
    {
        for (int i = 0; i < p.Arena.Length; i++)
            if (!float.IsFinite(p.Arena[i])) throw new InvalidOperationException($"refusing to save a model with a non-finite weight (arena element {i})");
        var tensors = new List<SafeTensor>(p.Tensors.Count);
        foreach (var t in p.Tensors) tensors.Add(new SafeTensor(t.Name, t.Shape, p.Arena.AsSpan(t.Offset, t.Length).ToArray()));
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [ArchKey] = p.Shape.Arch.ToSpecName() };
        // The loader's rules, checked here too, so a file we write always loads.
        void Put(string key, float[]? v, int length, bool positive)
        {
            if (v is null) return;
            if (v.Length != length) throw new InvalidOperationException($"{key} has {v.Length} values, expected {length}");
            for (int i = 0; i < v.Length; i++)
            {
                if (!float.IsFinite(v[i])) throw new InvalidOperationException($"refusing to save a model whose {key}[{i}] is not finite");
                if (positive && !(v[i] > 0f)) throw new InvalidOperationException($"refusing to save a model whose {key}[{i}] is {v[i].ToString(CultureInfo.InvariantCulture)} (a standard deviation must be > 0)");
            }
            metadata[key] = FormatVector(v);
        }
        Put("input_mean", p.InputMean, p.Shape.InputSize, positive: false);
        Put("input_std", p.InputStd, p.Shape.InputSize, positive: true);
        Put("output_mean", p.OutputMean, p.Shape.OutputSize, positive: false);
        Put("output_std", p.OutputStd, p.Shape.OutputSize, positive: true);
        foreach (var kv in p.Metadata)
        {
            if (kv.Key == ArchKey || Array.IndexOf(NormalizationKeys, kv.Key) >= 0) continue;
            metadata[kv.Key] = kv.Value;
        }
        SafeTensors.Write(destination, tensors, metadata);
    }

    public static byte[] ToBytes(ForecasterParameters p)
    {
        var ms = new MemoryStream();
        Write(p, ms);
        return ms.ToArray();
    }

    /// <summary>A JSON array of floats, each in round-trip form so a load gives back the same bits.</summary>
    public static string FormatVector(ReadOnlySpan<float> v)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < v.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(v[i].ToString("R", CultureInfo.InvariantCulture));
        }
        return sb.Append(']').ToString();
    }
}
