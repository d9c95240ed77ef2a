using System.Globalization;

namespace EdgeRnn.Forecasting.Data;

/// <summary>
/// A multichannel time series read from a CSV: one optional time column and named numeric columns.
/// Values are kept as read (NaN marks a missing or unparsable cell); gap policy is applied by the caller.
/// </summary>
public sealed class SeriesTable
{
    public string Source { get; }
    public string? TimeColumn { get; }
    /// <summary>Timestamps (UTC) per row, or null when the file has no time column.</summary>
    public DateTime[]? Times { get; }
    /// <summary>The time column's cells as written in the file (what `forecast` carries through), or null.</summary>
    public string[]? TimeText { get; init; }
    public IReadOnlyList<string> Names { get; }
    /// <summary>Column-major values: Columns[c][row].</summary>
    public float[][] Columns { get; }
    public int Rows => Columns.Length == 0 ? 0 : Columns[0].Length;

    public SeriesTable(string source, string? timeColumn, DateTime[]? times, IReadOnlyList<string> names, float[][] columns)
    {
        Source = source; TimeColumn = timeColumn; Times = times; Names = names; Columns = columns;
    }

    public int IndexOf(string name)
    {
        for (int i = 0; i < Names.Count; i++) if (Names[i] == name) return i;
        throw new ArgumentException($"{Source}: no numeric column named '{name}' (columns: {string.Join(", ", Names)})");
    }

    /// <summary>Resolves "all" or a comma-separated list of column names to column indices.</summary>
    public int[] Resolve(string spec)
    {
        if (spec == "all") return Enumerable.Range(0, Names.Count).ToArray();
        return spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(IndexOf).ToArray();
    }

    /// <summary>The first <paramref name="rows"/> rows only.</summary>
    public SeriesTable Head(int rows)
    {
        if (rows >= Rows) return this;
        if (rows < 1) throw new ArgumentException($"--rows must be at least 1, got {rows}");
        return new SeriesTable(Source, TimeColumn, Times?[..rows], Names, Columns.Select(c => c[..rows]).ToArray()) { TimeText = TimeText?[..rows] };
    }

    /// <summary>
    /// Reads a CSV with a header line. The time column is <paramref name="timeColumn"/> when given, otherwise the first
    /// column whose first data cell parses as an ISO 8601 timestamp (or, for a column named like time/date/timestamp,
    /// epoch seconds). Every other column whose cells parse as numbers is a channel; text columns are dropped.
    /// </summary>
    public static SeriesTable Load(string path, string? timeColumn = null)
    {
        using var reader = new StreamReader(path);
        return Read(reader, path, timeColumn);
    }

    public static SeriesTable Read(TextReader reader, string source, string? timeColumn = null)
    {
        string? header = reader.ReadLine() ?? throw new InvalidDataException($"{source}: empty file (expected a header line)");
        string[] names = SplitCsv(header);
        var rows = new List<string[]>();
        string? line;
        int lineNo = 1;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNo++;
            if (line.Length == 0) continue;
            string[] cells = SplitCsv(line);
            if (cells.Length != names.Length)
                throw new InvalidDataException($"{source}:{lineNo}: {cells.Length} cells, the header has {names.Length}");
            rows.Add(cells);
        }
        if (rows.Count == 0) throw new InvalidDataException($"{source}: no data rows");

        int timeIdx = -1;
        if (timeColumn is not null)
        {
            timeIdx = Array.IndexOf(names, timeColumn);
            if (timeIdx < 0) throw new ArgumentException($"{source}: no column named '{timeColumn}' for --time");
        }
        else
        {
            for (int c = 0; c < names.Length && timeIdx < 0; c++)
                if (TryParseIsoTime(rows[0][c], out _)) timeIdx = c;
            if (timeIdx < 0)
                for (int c = 0; c < names.Length && timeIdx < 0; c++)
                    if (LooksLikeTimeName(names[c]) && TryParseEpoch(rows[0][c], out _)) timeIdx = c;
        }

        DateTime[]? times = null;
        if (timeIdx >= 0)
        {
            times = new DateTime[rows.Count];
            for (int r = 0; r < rows.Count; r++)
            {
                string cell = rows[r][timeIdx];
                if (!TryParseIsoTime(cell, out times[r]) && !TryParseEpoch(cell, out times[r]))
                    throw new InvalidDataException($"{source}:{r + 2}: column '{names[timeIdx]}': '{cell}' is not a timestamp");
            }
        }

        var keptNames = new List<string>();
        var cols = new List<float[]>();
        for (int c = 0; c < names.Length; c++)
        {
            if (c == timeIdx) continue;
            // A column is numeric when some cell parses; empty/"nan"/garbage cells inside it become NaN (the gap policy handles them).
            var col = new float[rows.Count];
            int parsed = 0;
            for (int r = 0; r < rows.Count; r++)
            {
                if (double.TryParse(rows[r][c], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v))
                { col[r] = (float)v; parsed++; }
                else col[r] = float.NaN;
            }
            if (parsed == 0) continue;
            keptNames.Add(names[c]);
            cols.Add(col);
        }
        if (cols.Count == 0) throw new InvalidDataException($"{source}: no numeric columns");
        return new SeriesTable(source, timeIdx >= 0 ? names[timeIdx] : null, times, keptNames, cols.ToArray())
        {
            TimeText = timeIdx >= 0 ? rows.Select(r => r[timeIdx]).ToArray() : null,
        };
    }

    private static bool LooksLikeTimeName(string n)
    {
        n = n.ToLowerInvariant();
        return n.Contains("time") || n.Contains("date") || n == "ts" || n == "t" || n.Contains("epoch");
    }

    private static bool TryParseIsoTime(string s, out DateTime t)
    {
        // ISO 8601 needs a date with dashes; a bare number is never taken for a date here.
        if (s.Length >= 10 && s[4] == '-' &&
            DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out t))
            return true;
        t = default;
        return false;
    }

    private static bool TryParseEpoch(string s, out DateTime t)
    {
        t = default;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v < 0) return false;
        // Milliseconds when the number is too large to be seconds before year 5000.
        double seconds = v > 1e11 ? v / 1000 : v;
        if (seconds > 95_617_584_000) return false;
        t = DateTime.UnixEpoch.AddSeconds(seconds);
        return true;
    }

    private static string[] SplitCsv(string line)
    {
        if (!line.Contains('"')) return line.Split(',').Select(x => x.Trim()).ToArray();
        var cells = new List<string>();
        var cur = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < line.Length && line[i + 1] == '"') { cur.Append('"'); i++; }
                else if (ch == '"') quoted = false;
                else cur.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { cells.Add(cur.ToString().Trim()); cur.Clear(); }
            else cur.Append(ch);
        }
        cells.Add(cur.ToString().Trim());
        return cells.ToArray();
    }
}
