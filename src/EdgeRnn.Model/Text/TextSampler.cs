namespace EdgeRnn.Model.Text;

/// <summary>
/// PCG32 (O'Neill, pcg32 XSH RR 64/32): the generator's randomness, integer-only so x64 and ARM64 draw the same numbers.
/// </summary>
public struct Pcg32
{
    private ulong _state;
    private readonly ulong _inc;

    public Pcg32(ulong seed, ulong stream = 54)
    {
        _state = 0;
        _inc = (stream << 1) | 1;
        NextUInt();
        _state += seed;
        NextUInt();
    }

    public uint NextUInt()
    {
        ulong old = _state;
        _state = unchecked(old * 6364136223846793005UL + _inc);
        uint xorShifted = (uint)(((old >> 18) ^ old) >> 27);
        int rot = (int)(old >> 59);
        return (xorShifted >> rot) | (xorShifted << ((-rot) & 31));
    }

    /// <summary>Uniform in [0, 1) with 32 random bits.</summary>
    public double NextDouble() => NextUInt() * (1.0 / 4294967296.0);
}

/// <summary>
/// Draws the next token from a model's logits: softmax(z / T) over the top-k logits. Deterministic across machines for
/// a seed: the exponential is the plain double arithmetic of <see cref="Exp"/> (no libm, no fused multiply-add), and
/// ties in top-k go to the lower index. Allocation-free after construction.
/// </summary>
public sealed class TextSampler
{
    private readonly double[] _w;
    private readonly int[] _order;
    private Pcg32 _rng;

    public double Temperature { get; }
    public int TopK { get; }

    public TextSampler(int classes, double temperature, int topK, ulong seed)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), "classes must be >= 1");
        if (!(temperature > 0) || !double.IsFinite(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be > 0");
        if (topK < 0) throw new ArgumentOutOfRangeException(nameof(topK), topK, "top-k must be >= 0 (0 = all)");
        _w = new double[classes];
        _order = new int[classes];
        Temperature = temperature;
        TopK = topK == 0 || topK > classes ? classes : topK;
        _rng = new Pcg32(seed);
    }

    // logits: [C]
    public int Sample(ReadOnlySpan<float> logits)
    {
        int c = _w.Length;
        if (logits.Length != c) throw new ArgumentException($"logits has {logits.Length} values, expected {c}", nameof(logits));
        double max = double.NegativeInfinity;
        for (int i = 0; i < c; i++)
        {
            if (!float.IsFinite(logits[i])) throw new ArgumentException($"logit {i} is not finite", nameof(logits));
            max = Math.Max(max, logits[i]);
        }
        double threshold = double.NegativeInfinity;
        int keepEqual = c; // how many logits equal to the threshold are kept (lowest indices first)
        if (TopK < c)
        {
            for (int i = 0; i < c; i++) _order[i] = i;
            // partial selection sort: the TopK largest, ties by lower index (k is small in practice)
            for (int a = 0; a < TopK; a++)
            {
                int best = a;
                for (int b = a + 1; b < c; b++)
                    if (logits[_order[b]] > logits[_order[best]] || (logits[_order[b]] == logits[_order[best]] && _order[b] < _order[best])) best = b;
                (_order[a], _order[best]) = (_order[best], _order[a]);
            }
            threshold = logits[_order[TopK - 1]];
            keepEqual = 0;
            for (int a = 0; a < TopK; a++) if (logits[_order[a]] == threshold) keepEqual++;
        }
        double sum = 0;
        for (int i = 0; i < c; i++)
        {
            double z = logits[i];
            bool keep = z > threshold || (z == threshold && keepEqual-- > 0);
            double w = keep ? Exp((z - max) / Temperature) : 0;
            _w[i] = w;
            sum += w;
        }
        double u = _rng.NextDouble() * sum, acc = 0;
        int last = 0;
        for (int i = 0; i < c; i++)
        {
            if (_w[i] == 0) continue;
            last = i;
            acc += _w[i];
            if (u < acc) return i;
        }
        return last;
    }

    /// <summary>
    /// e^x for x ≤ 0 in plain IEEE double operations (so every machine gives the same bits): x = k ln2 + r with
    /// |r| ≤ ln2/2, e^r by its Taylor series to r¹³ (error below 1e-16 relative), then scaled by 2^k exactly.
    /// </summary>
    public static double Exp(double x)
    {
        if (x < -745) return 0;
        if (x > 0) throw new ArgumentOutOfRangeException(nameof(x), "Exp is for x <= 0");
        const double Ln2Hi = 0.693147180369123816490, Ln2Lo = 1.90821492927058770002e-10, InvLn2 = 1.44269504088896338700;
        double k = Math.Round(x * InvLn2);
        double r = (x - k * Ln2Hi) - k * Ln2Lo;
        double p = 1.0;
        for (int n = 13; n >= 1; n--) p = 1.0 + p * r / n;
        return Math.ScaleB(p, (int)k);
    }
}
