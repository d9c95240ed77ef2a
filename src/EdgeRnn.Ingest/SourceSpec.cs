using System.Globalization;
using System.IO.Ports;

namespace EdgeRnn.Ingest;

public enum SourceKind { Serial, Csv, Stdin, Mqtt }

/// <summary>
/// A source named on the command line or in the config:
/// <c>serial:/dev/ttyUSB0@115200</c> (optionally <c>@115200,8N1</c>; default 115200 8N1), <c>csv:path</c>, <c>stdin</c>
/// (or <c>-</c>), <c>mqtt:topic/#</c> (MQTT wildcards allowed; the broker address comes from elsewhere).
/// </summary>
public sealed record SourceSpec(SourceKind Kind, string Target, int BaudRate = 115200, int DataBits = 8,
    Parity Parity = Parity.None, StopBits StopBits = StopBits.One)
{
    public static SourceSpec Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec = spec.Trim();
        if (spec is "stdin" or "-") return new SourceSpec(SourceKind.Stdin, "stdin");
        int colon = spec.IndexOf(':');
        if (colon <= 0) throw new FormatException($"source '{spec}': expected serial:PATH[@BAUD[,8N1]], csv:PATH, stdin or mqtt:TOPIC");
        string scheme = spec[..colon], rest = spec[(colon + 1)..];
        if (rest.Length == 0) throw new FormatException($"source '{spec}': nothing after '{scheme}:'");
        switch (scheme)
        {
            case "csv":
                return new SourceSpec(SourceKind.Csv, rest);
            case "mqtt":
                ValidateTopicFilter(spec, rest);
                return new SourceSpec(SourceKind.Mqtt, rest);
            case "serial":
            {
                int at = rest.LastIndexOf('@');
                if (at < 0) return new SourceSpec(SourceKind.Serial, rest);
                string path = rest[..at], settings = rest[(at + 1)..];
                if (path.Length == 0) throw new FormatException($"source '{spec}': missing device path");
                string baudText = settings, framing = "8N1";
                int comma = settings.IndexOf(',');
                if (comma >= 0) { baudText = settings[..comma]; framing = settings[(comma + 1)..]; }
                if (!int.TryParse(baudText, NumberStyles.None, CultureInfo.InvariantCulture, out int baud) || baud <= 0)
                    throw new FormatException($"source '{spec}': baud rate '{baudText}' is not a positive integer");
                if (framing.Length != 3 || framing[0] is < '5' or > '8' || "NEOMS".IndexOf(char.ToUpperInvariant(framing[1])) < 0
                    || framing[2] is not ('1' or '2'))
                    throw new FormatException($"source '{spec}': framing '{framing}' should look like 8N1 (data bits 5-8, parity N/E/O/M/S, stop bits 1/2)");
                Parity parity = char.ToUpperInvariant(framing[1]) switch
                {
                    'E' => Parity.Even, 'O' => Parity.Odd, 'M' => Parity.Mark, 'S' => Parity.Space, _ => Parity.None,
                };
                return new SourceSpec(SourceKind.Serial, path, baud, framing[0] - '0', parity, framing[2] == '2' ? StopBits.Two : StopBits.One);
            }
            default:
                throw new FormatException($"source '{spec}': unknown kind '{scheme}' (serial, csv, stdin, mqtt)");
        }
    }

    private static void ValidateTopicFilter(string spec, string topic)
    {
        string[] levels = topic.Split('/');
        for (int i = 0; i < levels.Length; i++)
        {
            string l = levels[i];
            if (l == "#" && i != levels.Length - 1) throw new FormatException($"source '{spec}': '#' must be the last topic level");
            if (l.Length > 1 && (l.Contains('#') || l.Contains('+')))
                throw new FormatException($"source '{spec}': wildcards '+' and '#' must fill a whole topic level");
        }
    }

    public override string ToString() => Kind switch
    {
        SourceKind.Serial => $"serial:{Target}@{BaudRate}",
        SourceKind.Csv => $"csv:{Target}",
        SourceKind.Mqtt => $"mqtt:{Target}",
        _ => "stdin",
    };
}
