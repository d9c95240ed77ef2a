using System.Text;

namespace EdgeRnn.Model.Text;

/// <summary>
/// The characters of a character-level model: token i is output i and one-hot input i (model-file metadata "vocab").
/// A token is one Unicode scalar value (one Rune, so text outside the BMP works), in ordinal order when built from text.
/// </summary>
public sealed class CharVocab
{
    private readonly Dictionary<int, int> _index = new();
    public IReadOnlyList<string> Tokens { get; }
    public int Count => Tokens.Count;

    public CharVocab(IReadOnlyList<string> tokens)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            string t = tokens[i];
            if (Rune.DecodeFromUtf16(t, out Rune r, out int used) != System.Buffers.OperationStatus.Done || used != t.Length)
                throw new InvalidDataException($"vocab token {i} is not one character");
            if (!_index.TryAdd(r.Value, i)) throw new InvalidDataException($"vocab token {i} repeats a character");
        }
        Tokens = tokens;
    }

    /// <summary>The distinct characters of text, in ordinal order.</summary>
    public static CharVocab FromText(string text)
    {
        var set = new SortedSet<int>();
        foreach (Rune r in text.EnumerateRunes()) set.Add(r.Value);
        return new CharVocab(set.Select(v => new Rune(v).ToString()).ToArray());
    }

    /// <summary>The vocab of a model file (metadata "vocab"), checked against its sizes (one-hot inputs, softmax outputs).</summary>
    public static CharVocab FromModel(ForecasterParameters p, string nameForErrors)
    {
        string[] tokens;
        try { tokens = OutputHead.Vocab(p) ?? throw new InvalidDataException("metadata has no 'vocab' (not a character model)"); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{nameForErrors}: {e.Message}"); }
        if (p.Shape.InputSize != tokens.Length)
            throw new InvalidDataException($"{nameForErrors}: {p.Shape.InputSize} inputs but {tokens.Length} vocab tokens (a character model takes one-hot inputs)");
        if (OutputHead.Activation(p) != OutputActivation.Softmax)
            throw new InvalidDataException($"{nameForErrors}: metadata '{OutputHead.ActivationKey}' is not \"softmax\" (not a character model)");
        try { return new CharVocab(tokens); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{nameForErrors}: {e.Message}"); }
    }

    public bool TryIndex(Rune r, out int index) => _index.TryGetValue(r.Value, out index);

    /// <summary>Token indices of text; a character outside the vocab is an error naming its line and column.</summary>
    public int[] Encode(string text, string nameForErrors)
    {
        var ids = new List<int>(text.Length);
        int line = 1, column = 0;
        foreach (Rune r in text.EnumerateRunes())
        {
            column++;
            if (!_index.TryGetValue(r.Value, out int i))
                throw new InvalidDataException($"{nameForErrors}: line {line}, column {column}: character U+{r.Value:X4} is not in the model's vocab");
            ids.Add(i);
            if (r.Value == '\n') { line++; column = 0; }
        }
        return ids.ToArray();
    }
}
