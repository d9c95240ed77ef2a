using System.Globalization;
using EdgeRnn.Ingest;

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
    /// Reads a CSV with a header line through the project's one record reader (<see cref="CsvRecords"/>: separator
    /// detection, comment lines, missing-value tokens, long format, bad rows counted and skipped). The time column is
    /// <paramref name="timeColumn"/> when given, otherwise the first column whose first data cell parses as an ISO 8601
    /// timestamp (or, for a column named like time/date/timestamp, epoch seconds). Every other column whose cells parse as
    /// numbers is a channel; text columns (and a long-format id column) are dropped.
    /// </summary>
    public static SeriesTable Load(string path, string? timeColumn = null, CsvFormat? format = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        using var reader = new StreamReader(path);
        return Read(reader, path, timeColumn, format);
    }

    public static SeriesTable Read(TextReader reader, string source, string? timeColumn = null, CsvFormat? format = null)
    {
        format ??= new CsvFormat();
        // Long format without a chosen id: collect every id first, so the error can list them.
        var ids = new List<string>();
        var csv = new CsvRecords(reader, source, format.Id is null ? format with { AllSeries = true } : format);
        string[] names = csv.Header.ToArray();
        var rows = new List<string[]>();
        var lines = new List<int>();
        var allRows = format.Id is null && csv.IdIndex >= 0;
        while (csv.Read() is { } cells)
        {
            if (allRows)
            {
                string id = cells[csv.IdIndex].Trim();
                if (!ids.Contains(id)) ids.Add(id);
            }
            rows.Add(cells);
            lines.Add(csv.Line);
        }
        if (csv.IdIndex >= 0 && format.Id is not null && rows.Count == 0 && csv.OtherIdRows > 0)
            throw new InvalidDataException($"{source}: no rows with {csv.IdColumn} '{format.Id}'");
        if (ids.Count > 1)
            throw new InvalidDataException($"{source}: several series in column '{csv.IdColumn}' ({string.Join(", ", ids.Take(8))}{(ids.Count > 8 ? ", ..." : "")}): choose one with --id");
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
                if (TryParseIsoTime(rows[0][c].Trim(), out _)) timeIdx = c;
            if (timeIdx < 0)
                for (int c = 0; c < names.Length && timeIdx < 0; c++)
                    if (LooksLikeTimeName(names[c]) && TryParseEpoch(rows[0][c].Trim(), out _)) timeIdx = c;
        }

        DateTime[]? times = null;
        if (timeIdx >= 0)
        {
            var keep = new List<DateTime>(rows.Count);
            int w = 0;
            for (int r = 0; r < rows.Count; r++)
            {
                string cell = rows[r][timeIdx].Trim();
                if (!TryParseIsoTime(cell, out DateTime t) && !TryParseEpoch(cell, out t))
                {
                    ReportAt(csv, lines[r], $"column '{names[timeIdx]}': '{cell}' is not a timestamp");
                    continue;
                }
                keep.Add(t);
                rows[w] = rows[r]; lines[w] = lines[r]; w++;
            }
            rows.RemoveRange(w, rows.Count - w);
            lines.RemoveRange(w, lines.Count - w);
            if (rows.Count == 0) throw new InvalidDataException($"{source}: no rows with a readable timestamp");
            times = keep.ToArray();
        }

        var keptNames = new List<string>();
        var cols = new List<float[]>();
        for (int c = 0; c < names.Length; c++)
        {
            if (c == timeIdx || c == csv.IdIndex) continue;
            // A column is numeric when some cell parses; missing tokens are NaN (the gap policy handles them); any other
            // text in a numeric column is NaN too, and reported with its line.
            var col = new float[rows.Count];
            int parsed = 0;
            var bad = new List<int>();
            for (int r = 0; r < rows.Count; r++)
            {
                string cell = rows[r][c];
                if (!CsvRecords.IsMissing(cell) && csv.TryParseNumber(cell, out double v) && double.IsFinite(v))
                { col[r] = (float)v; parsed++; }
                else
                {
                    col[r] = float.NaN;
                    if (!CsvRecords.IsMissing(cell)) bad.Add(r);
                }
            }
            if (parsed == 0) continue;
            foreach (int r in bad) ReportAt(csv, lines[r], $"column '{names[c]}': '{rows[r][c].Trim()}' is not a number (read as missing)");
            keptNames.Add(names[c]);
            cols.Add(col);
        }
        if (cols.Count == 0) throw new InvalidDataException($"{source}: no numeric columns");
        return new SeriesTable(source, timeIdx >= 0 ? names[timeIdx] : null, times, keptNames, cols.ToArray())
        {
            TimeText = timeIdx >= 0 ? rows.Select(r => r[timeIdx]).ToArray() : null,
            BadRows = csv.BadRows, SeriesId = allRows ? (ids.Count == 1 ? ids[0] : null) : format.Id,
        };
    }

    private static void ReportAt(CsvRecords csv, int line, string why)
    {
        if (csv.Format.Strict) throw new InvalidDataException($"{csv.Name}:{line}: {why}");
        csv.Format.OnBadRow?.Invoke($"{csv.Name}:{line}: {why}");
    }

    /// <summary>Rows skipped as unreadable (wrong field count, overlong line).</summary>
    public long BadRows { get; init; }
    /// <summary>Long format: the series read.</summary>
    public string? SeriesId { get; init; }

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
}
