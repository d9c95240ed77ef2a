using System.Globalization;

namespace EdgeRnn.Daemon;

/// <summary>
/// The one command-line parser of edgernn (every command, and `run`'s daemon flags): "--name value", "--name=value" and
/// bare "--flag" for switches (also "--flag=on|off|true|false"). One vocabulary for every command; the old names stay as
/// aliases (<see cref="Aliases"/>). "--help" or "-h" anywhere asks for the command's help. Unknown flags are an error
/// with a did-you-mean, so a typo never silently runs with a default.
/// </summary>
public sealed class Args
{
    /// <summary>Old flag name → its name in the shared vocabulary.</summary>
    public static readonly IReadOnlyDictionary<string, string> Aliases = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["out"] = "output",
        ["data"] = "input",
        ["csv-rate-hz"] = "rate",
        ["sample-period-seconds"] = "period",
    };

    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    public List<string> Positional { get; } = new();

    public Args(IEnumerable<string> args, IReadOnlyCollection<string> booleanFlags)
    {
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string a = e.Current;
            if (a is "--help" or "-h" or "-?") throw new HelpRequestedException();
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                string name = a[2..];
                string? value = null;
                int eq = name.IndexOf('=');
                if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
                name = Aliases.GetValueOrDefault(name, name);
                if (eq < 0 && !booleanFlags.Contains(name))
                {
                    if (!e.MoveNext()) throw new UsageException($"--{name} needs a value");
                    value = e.Current;
                }
                if (_values.ContainsKey(name)) throw new UsageException($"--{name} is given twice (an old name such as --out is the same flag as --output)");
                _values[name] = value;
            }
            else Positional.Add(a);
        }
    }

    /// <summary>Every flag given, after aliases (name → value; null for a bare switch).</summary>
    public IReadOnlyDictionary<string, string?> Values => _values;

    public bool Has(string name) { _used.Add(name); return _values.ContainsKey(name); }

    public string? Get(string name) { _used.Add(name); return _values.TryGetValue(name, out var v) ? v : null; }

    public string Require(string name) => Get(name) ?? throw new UsageException($"missing --{name}");

    /// <summary>A switch: absent = fallback, bare = on, or =on/off/true/false/yes/no/1/0.</summary>
    public bool GetSwitch(string name, bool fallback = false)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var v)) return fallback;
        if (v is null) return true;
        return TryParseOnOff(v, out bool on) ? on : throw new UsageException($"--{name} expects on or off, got '{v}'");
    }

    public int GetInt(string name, int fallback)
    {
        string? v = Get(name);
        if (v is null) return fallback;
        return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r)
            ? r : throw new UsageException($"--{name} expects an integer, got '{v}'");
    }

    public double GetDouble(string name, double fallback)
    {
        string? v = Get(name);
        if (v is null) return fallback;
        return double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double r)
            ? r : throw new UsageException($"--{name} expects a number, got '{v}'");
    }

    /// <summary>--precision (float32 when absent), read by the same rule as the daemon's Precision setting.</summary>
    public EdgeRnn.Forecasting.Precision GetPrecision(string name = "precision")
    {
        string? v = Get(name);
        if (v is null) return EdgeRnn.Forecasting.Precision.Float32;
        return DaemonConfig.TryParsePrecision(v, out var p) ? p : throw new UsageException($"--{name} must be float32 or int8, got '{v}'");
    }

    /// <summary>Call after reading every flag a command knows: rejects the rest, naming the closest known flag.</summary>
    public void RejectUnknown()
    {
        foreach (var k in _values.Keys)
            if (!_used.Contains(k))
                throw new UsageException($"unknown option --{k}{(Suggest(k, _used) is { } s ? $" (did you mean --{s}?)" : "")}");
        if (Positional.Count > 0) throw new UsageException($"unexpected argument '{Positional[0]}'");
    }

    /// <summary>The known name closest to <paramref name="name"/> (edit distance at most a third of its length, min 2), or null.</summary>
    public static string? Suggest(string name, IEnumerable<string> known)
    {
        string? best = null;
        int bestD = Math.Max(2, name.Length / 3) + 1;
        foreach (string k in known)
        {
            int d = Distance(name.ToLowerInvariant(), k.ToLowerInvariant());
            if (d < bestD) { bestD = d; best = k; }
        }
        return best;
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    /// <summary>on/off, true/false, yes/no, 1/0 (any case): the one spelling rule for switches in flags and configuration.</summary>
    public static bool TryParseOnOff(string s, out bool on)
    {
        switch (s.Trim().ToLowerInvariant())
        {
            case "on" or "true" or "yes" or "1": on = true; return true;
            case "off" or "false" or "no" or "0": on = false; return true;
            default: on = false; return false;
        }
    }

    /// <summary>A duration: "3600" or "3600s" (seconds), "5m", "1h", "1d", or a TimeSpan ("00:05:00").</summary>
    public static TimeSpan? ParseDuration(string? s, string flag = "--period")
    {
        if (s is null) return null;
        s = s.Trim();
        double Num(string x) => double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v)
            ? v : throw new UsageException($"{flag}: '{s}' is not a positive duration (e.g. 300, 300s, 5m, 1h, 1d)");
        if (s.Length == 0) Num(s);
        if (s.Contains(':')) return TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out var ts) && ts > TimeSpan.Zero ? ts : throw new UsageException($"{flag}: '{s}' is not a duration");
        return s[^1] switch
        {
            's' => TimeSpan.FromSeconds(Num(s[..^1])),
            'm' => TimeSpan.FromMinutes(Num(s[..^1])),
            'h' => TimeSpan.FromHours(Num(s[..^1])),
            'd' => TimeSpan.FromDays(Num(s[..^1])),
            _ => TimeSpan.FromSeconds(Num(s)),
        };
    }
}

/// <summary>A mistake in how the command was called: printed without a stack trace, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>--help or -h was given: the command's help is printed, exit code 0.</summary>
public sealed class HelpRequestedException() : Exception("help requested");
