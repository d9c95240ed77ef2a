using System.Globalization;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json;

namespace EdgeRnn.Model;

/// <summary>What the file's user sees after the linear head (model-file metadata "output_activation"), and the token of
/// each output index ("vocab"), as the reference (tests/python/reference_forecaster.py, apply_output) defines them.</summary>
public enum OutputActivation { None, Softmax }

public static class OutputHead
{
    public const string ActivationKey = "output_activation";
    public const string VocabKey = "vocab";

    /// <summary>The file's output activation; an unknown value is an error naming the key.</summary>
    public static OutputActivation Activation(ForecasterParameters p)
    {
        if (!p.Metadata.TryGetValue(ActivationKey, out string? v)) return OutputActivation.None;
        return v switch
        {
            "none" => OutputActivation.None,
            "softmax" => OutputActivation.Softmax,
            _ => throw new InvalidDataException($"metadata '{ActivationKey}' is '{v}', expected \"none\" or \"softmax\""),
        };
    }

    /// <summary>softmax(x) in place, log-sum-exp stable: exp(x − max) / Σ exp(x − max).</summary>
    // x: [N]
    public static void Softmax(Span<float> x)
    {
        if (x.IsEmpty) return;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        float sum = TensorPrimitives.Sum(x);
        TensorPrimitives.Divide(x, sum, x);
    }

    /// <summary>The tokens of metadata "vocab" (null when absent). Each must be a JSON string; length must match outputs.</summary>
    public static string[]? Vocab(ForecasterParameters p)
    {
        if (!p.Metadata.TryGetValue(VocabKey, out string? text)) return null;
        var tokens = new List<string>();
        try
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray) throw new InvalidDataException($"metadata '{VocabKey}' is not a JSON array");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.String) throw new InvalidDataException($"metadata '{VocabKey}' element {tokens.Count} is not a string");
                tokens.Add(reader.GetString()!);
            }
            if (reader.TokenType != JsonTokenType.EndArray || reader.Read()) throw new InvalidDataException($"metadata '{VocabKey}' has text after its array");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"metadata '{VocabKey}' is not valid JSON ({e.Message})");
        }
        if (tokens.Count != p.Shape.OutputSize)
            throw new InvalidDataException($"metadata '{VocabKey}' has {tokens.Count} tokens, the model has {p.Shape.OutputSize.ToString(CultureInfo.InvariantCulture)} outputs");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Count; i++)
            if (!seen.Add(tokens[i])) throw new InvalidDataException($"metadata '{VocabKey}' element {i} repeats the token {JsonString(tokens[i])}");
        return tokens.ToArray();
    }

    /// <summary>A JSON array of strings (the "vocab" value).</summary>
    public static string FormatVocab(IReadOnlyList<string> tokens)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartArray();
            foreach (string t in tokens) w.WriteStringValue(t);
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static string JsonString(string s)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms)) w.WriteStringValue(s);
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}
