using System.Text;

namespace EdgeRnn.Daemon;

/// <summary>
/// The one place topic parts are checked: the topic prefix, gateway, stream names, the Home Assistant discovery prefix and
/// the model's target names, against the MQTT rules (a topic name is UTF-8 of at most 65535 bytes, no U+0000, no '+' or
/// '#' when publishing, '/' separates levels; a leading '$' is reserved for the broker; control characters are refused
/// here because brokers and tools handle them badly) and Home Assistant's (discovery topics are
/// &lt;prefix&gt;/&lt;component&gt;/&lt;object_id&gt;/config with object_id of [A-Za-z0-9_-] only). `run --validate` and
/// start-up both call it, so a name the broker would refuse is a configuration error, never a publisher that loops.
/// </summary>
public static class TopicNames
{
    /// <summary>MQTT's limit for a topic name in bytes; a forecast topic adds "/forecast" and separators to the parts.</summary>
    public const int MaxTopicBytes = 65535;

    /// <summary>Why <paramref name="value"/> is not a single topic level (stream, gateway), or null when it is.</summary>
    public static string? CheckLevel(string value)
    {
        if (value.Length == 0) return "must not be empty";
        if (value.Contains('/')) return "must be a single topic level (no '/')";
        return CheckCharacters(value);
    }

    /// <summary>Why <paramref name="value"/> is not a topic prefix of one or more levels, or null when it is.</summary>
    public static string? CheckPrefix(string value)
    {
        if (value.Length == 0) return "must not be empty";
        if (value.StartsWith('/') || value.EndsWith('/')) return "must not start or end with '/'";
        if (value.Contains("//", StringComparison.Ordinal)) return "must not contain an empty level ('//')";
        return CheckCharacters(value);
    }

    private static string? CheckCharacters(string value)
    {
        if (value.StartsWith('$')) return "must not start with '$' (reserved for the broker's own topics)";
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c is '+' or '#') return $"must not contain the wildcard '{c}'";
            if (c == '\0') return "must not contain a NUL character";
            if (char.IsControl(c)) return $"must not contain the control character U+{(int)c:X4}";
            if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[++i])))
                return "is not valid Unicode (a lone surrogate)";
        }
        if (Encoding.UTF8.GetByteCount(value) > MaxTopicBytes / 4) return $"is longer than {MaxTopicBytes / 4} bytes";
        return null;
    }

    /// <summary>The Home Assistant object_id of one target's sensor: every character outside [A-Za-z0-9_] becomes '_'.</summary>
    public static string DiscoveryObjectId(string gateway, string stream, string target)
    {
        var sb = new StringBuilder("edgernn_");
        foreach (string part in (string[])[gateway, "_", stream, "_", target])
            foreach (char c in part) sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        return sb.ToString();
    }

    /// <summary>Every problem with the configured topic parts, each naming its setting.</summary>
    public static List<string> Check(string topicPrefix, string gateway, string discoveryPrefix, bool discovery, IEnumerable<(string Key, string Name)> streams)
    {
        var errors = new List<string>();
        if (CheckPrefix(topicPrefix) is { } p) errors.Add($"TopicPrefix: '{Show(topicPrefix)}' {p}");
        if (CheckLevel(gateway) is { } g) errors.Add($"Gateway: '{Show(gateway)}' {g}");
        if (discovery && CheckPrefix(discoveryPrefix) is { } d) errors.Add($"DiscoveryPrefix: '{Show(discoveryPrefix)}' {d}");
        foreach (var (key, name) in streams)
            if (CheckLevel(name) is { } s) errors.Add($"{key}: stream name '{Show(name)}' {s}");
        return errors;
    }

    /// <summary>
    /// Problems with a model's target names for this stream: none can break a topic (they only reach discovery object ids,
    /// which are sanitised), but two that sanitise to the same id would overwrite each other's Home Assistant sensor.
    /// </summary>
    public static List<string> CheckTargets(string gateway, string stream, IReadOnlyList<string> targets)
    {
        var errors = new List<string>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string t in targets)
        {
            if (t.Length == 0) { errors.Add($"stream {stream}: the model has a target with an empty name"); continue; }
            if (t.Contains('\0')) errors.Add($"stream {stream}: model target '{Show(t)}' contains a NUL character");
            string id = DiscoveryObjectId(gateway, stream, t);
            if (seen.TryGetValue(id, out string? other))
                errors.Add($"stream {stream}: model targets '{Show(other)}' and '{Show(t)}' both become Home Assistant object id '{id}'");
            else seen[id] = t;
        }
        return errors;
    }

    /// <summary>A value as it can be printed: control characters shown as \uXXXX.</summary>
    private static string Show(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s) if (char.IsControl(c)) sb.Append($"\\u{(int)c:X4}"); else sb.Append(c);
        return sb.ToString();
    }
}
