using System.Globalization;
using System.Text;

namespace EdgeRnn.Ingest;

/// <summary>How a CSV is read: limits, long-format selection and what happens to a bad row.</summary>
public sealed record CsvFormat
{
    /// <summary>Longest line kept, in characters; a longer line is counted, skipped and never held in memory whole.</summary>
    public int MaxLineLength { get; init; } = 64 * 1024;
    /// <summary>Long format: the column naming the series of each row (null: <c>entity_id</c> when the header has one).</summary>
    public string? IdColumn { get; init; }
    /// <summary>Long format: the series to read; null takes the only one present and refuses a file that holds several.</summary>
    public string? Id { get; init; }
    /// <summary>True: a bad row is an error (exception). False: it is counted, reported through <see cref="OnBadRow"/> and skipped.</summary>
    public bool Strict { get; init; }
    /// <summary>Where "file:line: why" goes for each skipped row (the first <see cref="CsvRecords.MaxReported"/> of them).</summary>
    public Action<string>? OnBadRow { get; init; }
    /// <summary>Long format without <see cref="Id"/>: return the rows of every series (the caller groups or refuses them).</summary>
    public bool AllSeries { get; init; }
}

/// <summary>
/// The one CSV record reader of the project (training files, CSV and stdin sources, the simulator, the demo). It finds the
/// separator from the header (comma, semicolon or tab), skips blank lines and comment or annotation lines (first character
/// '#', as in InfluxDB annotated CSV), bounds the line length, and in long format (an id column such as Home Assistant's
/// <c>entity_id</c>) keeps the rows of one series. A row with the wrong number of fields is counted and skipped (or, with
/// <see cref="CsvFormat.Strict"/>, an error); every report names the file and line.
/// </summary>
public sealed class CsvRecords : IDisposable
{
    /// <summary>Column names taken for a long-format id column without configuration.</summary>
    public static readonly string[] IdColumnNames = ["entity_id"];
    /// <summary>Cells read as a missing value: empty, NaN/NA/N/A/null/None, and Home Assistant's unavailable/unknown.</summary>
    public static readonly string[] MissingTokens = ["nan", "na", "n/a", "null", "none", "unavailable", "unknown", "-"];
    public const int MaxReported = 20;

    private readonly TextReader _reader;
    private readonly CsvFormat _format;
    private readonly char[] _buf = new char[8192];
    private readonly StringBuilder _line = new();
    private int _pos, _len;
    private bool _eof;
    private string? _firstIdLine;

    public string Name { get; }
    public char Separator { get; }
    public IReadOnlyList<string> Header { get; }
    /// <summary>Line number of the record last returned (1-based, counting every physical line).</summary>
    public int Line { get; private set; }
    public long BadRows { get; private set; }
    public long LongLines { get; private set; }
    /// <summary>Rows of other series skipped in long format.</summary>
    public long OtherIdRows { get; private set; }
    public int IdIndex { get; } = -1;
    public string? IdColumn => IdIndex >= 0 ? Header[IdIndex] : null;
    /// <summary>The series being read in long format (configured, or the first one seen).</summary>
    public string? SelectedId { get; private set; }
    public CsvFormat Format => _format;

    public CsvRecords(TextReader reader, string name, CsvFormat? format = null)
    {
        _reader = reader;
        _format = format ?? new CsvFormat();
        Name = name;
        if (_format.MaxLineLength < 16) throw new ArgumentOutOfRangeException(nameof(format), "MaxLineLength must be at least 16");
        string? header;
        while (true)
        {
            header = NextLine(out bool tooLong);
            if (header is null) throw new InvalidDataException($"{name}: empty file, expected a header row of column names");
            if (tooLong) throw new InvalidDataException($"{name}:{Line}: header line longer than {_format.MaxLineLength} characters");
            if (Line == 1) header = header.TrimStart('\uFEFF');
            if (!IsSkippable(header)) break;
        }
        Separator = DetectSeparator(header);
        string[] cols = Split(header, Separator);
        for (int i = 0; i < cols.Length; i++) cols[i] = cols[i].Trim();
        Header = cols;
        if (_format.IdColumn is { } idc)
        {
            IdIndex = Array.IndexOf(cols, idc);
            if (IdIndex < 0) throw new InvalidDataException($"{name}:{Line}: no id column '{idc}' (columns: {string.Join(", ", cols)})");
        }
        else IdIndex = Array.FindIndex(cols, c => IdColumnNames.Contains(c, StringComparer.OrdinalIgnoreCase));
        if (_format.Id is not null && IdIndex < 0)
            throw new InvalidDataException($"{name}:{Line}: an id '{_format.Id}' was chosen but the file has no id column (columns: {string.Join(", ", cols)})");
        SelectedId = _format.Id;
    }

    /// <summary>A line that carries no record: blank, or a comment/annotation starting with '#'.</summary>
    private static bool IsSkippable(string line)
    {
        var t = line.AsSpan().Trim();
        return t.Length == 0 || t[0] == '#';
    }

    /// <summary>The most frequent of ',', ';' and tab outside quotes in the header (comma on a tie or when none occurs).</summary>
    public static char DetectSeparator(string header)
    {
        int comma = 0, semi = 0, tab = 0;
        bool quoted = false;
        foreach (char c in header)
        {
            if (c == '"') quoted = !quoted;
            else if (!quoted) { if (c == ',') comma++; else if (c == ';') semi++; else if (c == '\t') tab++; }
        }
        if (semi > comma && semi >= tab) return ';';
        if (tab > comma && tab > semi) return '\t';
        return ',';
    }

    /// <summary>Next record of the selected series, or null at the end. Bad rows are counted and skipped (or thrown, strict).</summary>
    public string[]? Read()
    {
        while (true)
        {
            string? line = NextLine(out bool tooLong);
            if (line is null) return null;
            if (Accept(line, tooLong) is { } cells) return cells;
        }
    }

    public async ValueTask<string[]?> ReadAsync(CancellationToken ct)
    {
        while (true)
        {
            string? line;
            bool tooLong;
            while (!TryTakeLine(out line, out tooLong))
            {
                if (_eof) { line = TakeRest(out tooLong); break; }
                _len = await _reader.ReadAsync(_buf.AsMemory(), ct).ConfigureAwait(false);
                _pos = 0;
                if (_len == 0) _eof = true;
            }
            if (line is null) return null;
            if (Accept(line, tooLong) is { } cells) return cells;
        }
    }

    private string[]? Accept(string line, bool tooLong)
    {
        if (tooLong)
        {
            LongLines++;
            Bad($"line longer than {_format.MaxLineLength} characters");
            return null;
        }
        if (IsSkippable(line)) return null;
        string[] cells = Split(line, Separator);
        if (cells.Length != Header.Count)
        {
            Bad($"{cells.Length} fields, the header has {Header.Count}");
            return null;
        }
        if (IdIndex >= 0)
        {
            string id = cells[IdIndex].Trim();
            if (_format.AllSeries) return cells;
            if (SelectedId is null) { SelectedId = id; _firstIdLine = $"{Line}"; }
            else if (id != SelectedId)
            {
                if (_format.Id is null)
                    throw new InvalidDataException($"{Name}:{Line}: several series in column '{IdColumn}' ('{SelectedId}' from line {_firstIdLine}, '{id}' here): choose one (train/backtest --id ID; run: \"Id\" of the stream)");
                OtherIdRows++;
                return null;
            }
        }
        return cells;
    }

    /// <summary>Counts a bad row of the current line and reports it, or throws in strict mode.</summary>
    public void Bad(string why)
    {
        string msg = $"{Name}:{Line}: {why}";
        if (_format.Strict) throw new InvalidDataException(msg);
        BadRows++;
        if (BadRows <= MaxReported) _format.OnBadRow?.Invoke(msg + " (row skipped)");
        else if (BadRows == MaxReported + 1) _format.OnBadRow?.Invoke($"{Name}: more than {MaxReported} bad rows; further ones are counted, not reported");
    }

    /// <summary>One physical line without its terminator, null at the end; a line over the limit comes back empty with tooLong set.</summary>
    private string? NextLine(out bool tooLong)
    {
        string? line;
        while (!TryTakeLine(out line, out tooLong))
        {
            if (_eof) return TakeRest(out tooLong);
            _len = _reader.Read(_buf, 0, _buf.Length);
            _pos = 0;
            if (_len == 0) _eof = true;
        }
        return line;
    }

    private bool _overflow;

    /// <summary>Consumes buffered characters up to a newline. True with the line when one ends in the buffer.</summary>
    private bool TryTakeLine(out string? line, out bool tooLong)
    {
        line = null;
        tooLong = false;
        if (_pos >= _len) return false;
        int nl = Array.IndexOf(_buf, '\n', _pos, _len - _pos);
        int end = nl >= 0 ? nl : _len;
        Append(_pos, end - _pos);
        _pos = nl >= 0 ? nl + 1 : _len;
        if (nl < 0) return false;
        line = Finish(out tooLong);
        return true;
    }

    private string? TakeRest(out bool tooLong)
    {
        tooLong = false;
        if (_line.Length == 0 && !_overflow) return null;
        return Finish(out tooLong);
    }

    private void Append(int start, int count)
    {
        if (_overflow) return;
        if (_line.Length + count > _format.MaxLineLength + 1) { _overflow = true; _line.Clear(); return; }
        _line.Append(_buf, start, count);
    }

    private string Finish(out bool tooLong)
    {
        Line++;
        tooLong = _overflow;
        _overflow = false;
        int n = _line.Length;
        if (n > 0 && _line[n - 1] == '\r') n--;
        string s = tooLong ? "" : _line.ToString(0, n);
        _line.Clear();
        if (!tooLong && s.Length > _format.MaxLineLength) { tooLong = true; s = ""; }
        return s;
    }

    /// <summary>True for a cell that means "no value" (see <see cref="MissingTokens"/>).</summary>
    public static bool IsMissing(ReadOnlySpan<char> cell)
    {
        cell = cell.Trim();
        if (cell.Length == 0) return true;
        foreach (string t in MissingTokens) if (cell.Equals(t, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>A number in invariant culture; with ';' or tab separators a decimal comma ("21,5") is accepted too.</summary>
    public bool TryParseNumber(ReadOnlySpan<char> cell, out double value)
    {
        cell = cell.Trim();
        if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out value)) return true;
        if (Separator != ',' && cell.IndexOf(',') >= 0 && cell.IndexOf('.') < 0)
            return double.TryParse(cell.ToString().Replace(',', '.'), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        return false;
    }

    /// <summary>Splits one record: the separator, double-quoted fields with "" escapes.</summary>
    public static string[] Split(string line, char sep)
    {
        if (!line.Contains('"')) return line.Split(sep);
        var fields = new List<string>();
        var cur = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cur.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cur.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == sep) { fields.Add(cur.ToString()); cur.Clear(); }
            else cur.Append(c);
        }
        fields.Add(cur.ToString());
        return fields.ToArray();
    }

    public void Dispose() => _reader.Dispose();
}

/// <summary>
/// Samples from CSV records: an optional timestamp column (ISO 8601, or epoch seconds or milliseconds, told apart by
/// magnitude) and numeric value columns, in the order asked for. Missing cells (<see cref="CsvRecords.IsMissing"/>) are NaN.
/// A row whose value or timestamp cannot be read is counted and skipped with a report naming file, line and column
/// (an error with <see cref="CsvFormat.Strict"/>).
/// </summary>
public sealed class CsvReader : IDisposable
{
    private static readonly string[] TimestampNames = ["timestamp", "time", "date", "datetime", "ts", "last_changed", "last_updated"];
    private readonly CsvRecords _records;
    private readonly string _name;
    private readonly int[] _valueIndex;
    private readonly int _timestampIndex;
    private readonly long _syntheticStartMs, _syntheticPeriodMs;
    private long _rows;

    public IReadOnlyList<string> Header => _records.Header;
    public IReadOnlyList<string> Channels { get; }
    public string? TimestampColumn { get; }
    public int Line => _records.Line;
    public CsvRecords Records => _records;

    /// <param name="name">file name used in error messages</param>
    /// <param name="columns">value columns to read, in this order (null: every column but the timestamp and the id)</param>
    /// <param name="timestampColumn">null: detect (timestamp, time, date, datetime, ts, last_changed, last_updated); "" for none</param>
    /// <param name="syntheticPeriodMs">spacing of made-up timestamps when there is no timestamp column</param>
    public CsvReader(TextReader reader, string name, IReadOnlyList<string>? columns = null, string? timestampColumn = null,
        long syntheticPeriodMs = 1000, long? syntheticStartMs = null, CsvFormat? format = null)
    {
        _records = new CsvRecords(reader, name, format);
        _name = name;
        var cols = _records.Header.ToArray();
        int line = _records.Line;
        if (timestampColumn is null)
            _timestampIndex = Array.FindIndex(cols, c => TimestampNames.Contains(c, StringComparer.OrdinalIgnoreCase));
        else if (timestampColumn.Length == 0)
            _timestampIndex = -1;
        else
        {
            _timestampIndex = Array.IndexOf(cols, timestampColumn);
            if (_timestampIndex < 0) throw new InvalidDataException($"{name}:{line}: no timestamp column '{timestampColumn}' (columns: {string.Join(", ", cols)})");
        }
        TimestampColumn = _timestampIndex >= 0 ? cols[_timestampIndex] : null;
        if (columns is null)
            _valueIndex = Enumerable.Range(0, cols.Length).Where(i => i != _timestampIndex && i != _records.IdIndex).ToArray();
        else
            _valueIndex = columns.Select(c =>
            {
                int i = Array.IndexOf(cols, c);
                return i >= 0 ? i : throw new InvalidDataException($"{name}:{line}: no column '{c}' (columns: {string.Join(", ", cols)})");
            }).ToArray();
        if (_valueIndex.Length == 0) throw new InvalidDataException($"{name}:{line}: no value columns");
        Channels = _valueIndex.Select(i => cols[i]).ToArray();
        _syntheticPeriodMs = syntheticPeriodMs;
        _syntheticStartMs = syntheticStartMs ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    }

    /// <summary>Reads the next good row into <paramref name="values"/> (length = Channels.Count). False at the end.</summary>
    public bool Read(out long timestampMs, Span<float> values)
    {
        while (_records.Read() is { } cells)
            if (Parse(cells, out timestampMs, values)) return true;
        timestampMs = 0;
        return false;
    }

    public async ValueTask<(bool Ok, long TimestampMs)> ReadAsync(float[] values, CancellationToken ct)
    {
        while (await _records.ReadAsync(ct).ConfigureAwait(false) is { } cells)
            if (Parse(cells, out long ts, values)) return (true, ts);
        return (false, 0);
    }

    private bool Parse(string[] cells, out long timestampMs, Span<float> values)
    {
        timestampMs = 0;
        for (int k = 0; k < _valueIndex.Length; k++)
        {
            string cell = cells[_valueIndex[k]];
            if (CsvRecords.IsMissing(cell)) values[k] = float.NaN;
            else if (_records.TryParseNumber(cell, out double v)) values[k] = (float)v;
            else { _records.Bad($"column '{Channels[k]}': '{cell.Trim()}' is not a number"); return false; }
        }
        if (_timestampIndex >= 0)
        {
            if (!TryParseTimestamp(cells[_timestampIndex].Trim(), out timestampMs))
            {
                _records.Bad($"column '{TimestampColumn}': timestamp '{cells[_timestampIndex].Trim()}' is neither ISO 8601 nor epoch seconds/milliseconds");
                return false;
            }
        }
        else timestampMs = _syntheticStartMs + _rows * _syntheticPeriodMs;
        _rows++;
        return true;
    }

    /// <summary>ISO 8601 (UTC unless an offset is given), or epoch seconds (|x| &lt; 1e11) or milliseconds.</summary>
    public static long ParseTimestamp(string s, string where) =>
        TryParseTimestamp(s, out long ms) ? ms : throw new InvalidDataException($"{where}: timestamp '{s}' is neither ISO 8601 nor epoch seconds/milliseconds");

    public static bool TryParseTimestamp(string s, out long ms)
    {
        ms = 0;
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double num))
        {
            if (!double.IsFinite(num)) return false;
            double v = Math.Round(Math.Abs(num) < 1e11 ? num * 1000.0 : num);
            if (Math.Abs(v) > 253_402_300_799_999) return false; // beyond 9999-12-31: not a time
            ms = (long)v;
            return true;
        }
        if (DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var dto))
        {
            ms = dto.ToUnixTimeMilliseconds();
            return true;
        }
        return false;
    }

    public void Dispose() => _records.Dispose();
}

/// <summary>Options for <see cref="CsvSource"/>.</summary>
public sealed record CsvOptions
{
    public IReadOnlyList<string>? Columns { get; init; }
    public string? TimestampColumn { get; init; }
    /// <summary>Rows per second to replay at; null replays as fast as the sink takes them (files) or as lines arrive (stdin).</summary>
    public double? RateHz { get; init; }
    public long SyntheticPeriodMs { get; init; } = 1000;
    /// <summary>Long format: the id column (null: entity_id when present) and the series to read.</summary>
    public string? IdColumn { get; init; }
    public string? Id { get; init; }
    public int MaxLineLength { get; init; } = 64 * 1024;
    /// <summary>Where skipped rows are reported ("file:line: why").</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// Samples from a CSV file (stream name: the file name) or stdin (stream name "stdin"). A bad row is counted
/// (<c>bad_rows</c>, <c>long_lines</c>), reported and skipped: the stream goes on from the next row, nothing is replayed.
/// </summary>
public sealed class CsvSource : ISampleSource
{
    private readonly Func<TextReader> _open;
    private readonly string _name;
    private readonly CsvOptions _options;
    private long _rows, _missing, _badRows, _longLines;
    private IReadOnlyList<string> _channels = [];

    public CsvSource(string path, CsvOptions? options = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"CSV file '{path}' does not exist", path);
        _open = () => new StreamReader(path);
        _name = path;
        Description = "csv:" + path;
        _options = options ?? new CsvOptions();
        using var r = Open();
        _channels = r.Channels;
    }

    private CsvSource(Func<TextReader> open, string name, CsvOptions options)
    {
        _open = open;
        _name = name;
        Description = name;
        _options = options;
    }

    public static CsvSource Stdin(CsvOptions? options = null) =>
        new(() => new StreamReader(Console.OpenStandardInput()), "stdin", options ?? new CsvOptions());

    /// <summary>For tests and pipes: any reader.</summary>
    public static CsvSource FromReader(TextReader reader, string name, CsvOptions? options = null) =>
        new(() => reader, name, options ?? new CsvOptions());

    public string Description { get; }
    public IReadOnlyList<string> Channels => _channels;
    public IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["rows"] = Interlocked.Read(ref _rows),
        ["missing_values"] = Interlocked.Read(ref _missing),
        ["bad_rows"] = Interlocked.Read(ref _badRows),
        ["long_lines"] = Interlocked.Read(ref _longLines),
    };

    private CsvReader Open() => new(_open(), _name, _options.Columns, _options.TimestampColumn, _options.SyntheticPeriodMs, format: new CsvFormat
    {
        IdColumn = _options.IdColumn, Id = _options.Id, MaxLineLength = _options.MaxLineLength, OnBadRow = _options.Log,
    });

    public async Task RunAsync(ISampleSink sink, CancellationToken cancellationToken)
    {
        using var reader = Open();
        _channels = reader.Channels;
        string stream = _name == "stdin" ? "stdin" : Path.GetFileName(_name);
        float[] values = new float[reader.Channels.Count];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var records = reader.Records;
        while (!cancellationToken.IsCancellationRequested)
        {
            var (ok, ts) = await reader.ReadAsync(values, cancellationToken).ConfigureAwait(false);
            Interlocked.Exchange(ref _badRows, records.BadRows);
            Interlocked.Exchange(ref _longLines, records.LongLines);
            if (!ok) break;
            foreach (float v in values) if (float.IsNaN(v)) Interlocked.Increment(ref _missing);
            if (_options.RateHz is double hz)
            {
                long due = (long)(Interlocked.Read(ref _rows) * 1000.0 / hz);
                long wait = due - clock.ElapsedMilliseconds;
                if (wait > 0) await Task.Delay(TimeSpan.FromMilliseconds(wait), cancellationToken).ConfigureAwait(false);
            }
            Interlocked.Increment(ref _rows);
            sink.OnSample(stream, ts, values);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
