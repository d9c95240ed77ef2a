namespace EdgeRnn.Cli;

/// <summary>
/// Minimal, AOT-friendly command-line parsing: "--name value", "--name=value" and bare "--flag".
/// Unknown flags are an error, so a typo never silently runs with a default.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    public List<string> Positional { get; } = new();

    public Args(IEnumerable<string> args, IReadOnlyCollection<string> booleanFlags)
    {
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string a = e.Current;
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                string name = a[2..];
                string? value = null;
                int eq = name.IndexOf('=');
                if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
                else if (!booleanFlags.Contains(name))
                {
                    if (!e.MoveNext()) throw new UsageException($"--{name} needs a value");
                    value = e.Current;
                }
                _values[name] = value;
            }
            else Positional.Add(a);
        }
    }

    public bool Has(string name) { _used.Add(name); return _values.ContainsKey(name); }

    public string? Get(string name) { _used.Add(name); return _values.TryGetValue(name, out var v) ? v : null; }

    public string Require(string name) => Get(name) ?? throw new UsageException($"missing --{name}");

    public int GetInt(string name, int fallback)
    {
        string? v = Get(name);
        if (v is null) return fallback;
        return int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int r)
            ? r : throw new UsageException($"--{name} expects an integer, got '{v}'");
    }

    public double GetDouble(string name, double fallback)
    {
        string? v = Get(name);
        if (v is null) return fallback;
        return double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double r)
            ? r : throw new UsageException($"--{name} expects a number, got '{v}'");
    }

    /// <summary>Call after reading every flag a command knows: rejects the rest.</summary>
    public void RejectUnknown()
    {
        foreach (var k in _values.Keys)
            if (!_used.Contains(k)) throw new UsageException($"unknown option --{k}");
    }
}

/// <summary>A mistake in how the command was called: printed without a stack trace, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
