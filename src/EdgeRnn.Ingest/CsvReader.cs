using System.Globalization;

namespace EdgeRnn.Ingest;

/// <summary>
/// Reads a CSV of samples: a header row of column names, an optional timestamp column (ISO 8601, or epoch seconds or
/// milliseconds, told apart by magnitude), numeric value columns. Empty, NaN, NA and null cells are missing values (NaN).
/// Errors name the file, line and column.
/// </summary>
public sealed class CsvReader : IDisposable
{
    private static readonly string[] TimestampNames = ["timestamp", "time", "date", "datetime", "ts"];
    private readonly TextReader _reader;
    private readonly string _name;
    private readonly int[] _valueIndex;
    private readonly int _timestampIndex;
    private readonly long _syntheticStartMs, _syntheticPeriodMs;
    private long _rows;

    public IReadOnlyList<string> Header { get; }
    public IReadOnlyList<string> Channels { get; }
    public string? TimestampColumn { get; }
    public int Line { get; private set; }

    /// <param name="name">file name used in error messages</param>
    /// <param name="columns">value columns to read, in this order (null: every column but the timestamp)</param>
    /// <param name="timestampColumn">null: detect (timestamp, time, date, datetime, ts); "" for none</param>
    /// <param name="syntheticPeriodMs">spacing of made-up timestamps when there is no timestamp column</param>
    public CsvReader(TextReader reader, string name, IReadOnlyList<string>? columns = null, string? timestampColumn = null,
        long syntheticPeriodMs = 1000, long? syntheticStartMs = null)
    {
        _reader = reader;
        _name = name;
        string? header = reader.ReadLine();
        Line = 1;
        if (header is null) throw new InvalidDataException($"{name}: empty file, expected a header row of column names");
        string[] cols = Split(header.TrimStart('\uFEFF')).Select(c => c.Trim()).ToArray();
        Header = cols;
        if (timestampColumn is null)
            _timestampIndex = Array.FindIndex(cols, c => TimestampNames.Contains(c, StringComparer.OrdinalIgnoreCase));
        else if (timestampColumn.Length == 0)
            _timestampIndex = -1;
        else
        {
            _timestampIndex = Array.IndexOf(cols, timestampColumn);
            if (_timestampIndex < 0) throw new InvalidDataException($"{name}:1: no timestamp column '{timestampColumn}' (columns: {string.Join(", ", cols)})");
        }
        TimestampColumn = _timestampIndex >= 0 ? cols[_timestampIndex] : null;
        if (columns is null)
            _valueIndex = Enumerable.Range(0, cols.Length).Where(i => i != _timestampIndex).ToArray();
        else
            _valueIndex = columns.Select(c =>
            {
                int i = Array.IndexOf(cols, c);
                return i >= 0 ? i : throw new InvalidDataException($"{name}:1: no column '{c}' (columns: {string.Join(", ", cols)})");
            }).ToArray();
        if (_valueIndex.Length == 0) throw new InvalidDataException($"{name}:1: no value columns");
        Channels = _valueIndex.Select(i => cols[i]).ToArray();
        _syntheticPeriodMs = syntheticPeriodMs;
        _syntheticStartMs = syntheticStartMs ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    }

    /// <summary>Reads the next row into <paramref name="values"/> (length = Channels.Count). False at the end.</summary>
    public bool Read(out long timestampMs, Span<float> values) => Parse(_reader.ReadLine(), out timestampMs, values);

    public async ValueTask<(bool Ok, long TimestampMs)> ReadAsync(float[] values, CancellationToken ct)
    {
        string? line = await _reader.ReadLineAsync(ct).ConfigureAwait(false);
        bool ok = Parse(line, out long ts, values);
        return (ok, ts);
    }

    private bool Parse(string? line, out long timestampMs, Span<float> values)
    {
        timestampMs = 0;
        while (true)
        {
            if (line is null) return false;
            Line++;
            if (line.Trim().Length > 0) break;
            line = _reader.ReadLine(); // blank lines are skipped
        }
        string[] cells = Split(line);
        if (cells.Length != Header.Count)
            throw new InvalidDataException($"{_name}:{Line}: {cells.Length} fields, the header has {Header.Count}");
        for (int k = 0; k < _valueIndex.Length; k++)
        {
            string cell = cells[_valueIndex[k]].Trim();
            if (cell.Length == 0 || cell.Equals("nan", StringComparison.OrdinalIgnoreCase) || cell.Equals("na", StringComparison.OrdinalIgnoreCase)
                || cell.Equals("null", StringComparison.OrdinalIgnoreCase))
                values[k] = float.NaN;
            else if (float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out float v))
                values[k] = v;
            else
                throw new InvalidDataException($"{_name}:{Line}: column '{Channels[k]}': '{cell}' is not a number");
        }
        timestampMs = _timestampIndex >= 0
            ? ParseTimestamp(cells[_timestampIndex].Trim(), $"{_name}:{Line}: column '{TimestampColumn}'")
            : _syntheticStartMs + _rows * _syntheticPeriodMs;
        _rows++;
        return true;
    }

    /// <summary>ISO 8601 (UTC unless an offset is given), or epoch seconds (|x| &lt; 1e11) or milliseconds.</summary>
    public static long ParseTimestamp(string s, string where)
    {
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double num))
        {
            if (!double.IsFinite(num)) throw new InvalidDataException($"{where}: timestamp '{s}' is not finite");
            return (long)Math.Round(Math.Abs(num) < 1e11 ? num * 1000.0 : num);
        }
        if (DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var dto))
            return dto.ToUnixTimeMilliseconds();
        throw new InvalidDataException($"{where}: timestamp '{s}' is neither ISO 8601 nor epoch seconds/milliseconds");
    }

    /// <summary>Splits one CSV record: commas, double-quoted fields with "" escapes.</summary>
    private static string[] Split(string line)
    {
        if (!line.Contains('"')) return line.Split(',');
        var fields = new List<string>();
        var cur = new System.Text.StringBuilder();
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
            else if (c == ',') { fields.Add(cur.ToString()); cur.Clear(); }
            else cur.Append(c);
        }
        fields.Add(cur.ToString());
        return fields.ToArray();
    }

    public void Dispose() => _reader.Dispose();
}

/// <summary>Options for <see cref="CsvSource"/>.</summary>
public sealed record CsvOptions
{
    public IReadOnlyList<string>? Columns { get; init; }
    public string? TimestampColumn { get; init; }
    /// <summary>Rows per second to replay at; null replays as fast as the sink takes them (files) or as lines arrive (stdin).</summary>
    public double? RateHz { get; init; }
    public long SyntheticPeriodMs { get; init; } = 1000;
}

/// <summary>Samples from a CSV file (stream name: the file name) or stdin (stream name "stdin").</summary>
public sealed class CsvSource : ISampleSource
{
    private readonly Func<TextReader> _open;
    private readonly string _name;
    private readonly CsvOptions _options;
    private long _rows, _missing;
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
    };

    private CsvReader Open() => new(_open(), _name, _options.Columns, _options.TimestampColumn, _options.SyntheticPeriodMs);

    public async Task RunAsync(ISampleSink sink, CancellationToken cancellationToken)
    {
        using var reader = Open();
        _channels = reader.Channels;
        string stream = _name == "stdin" ? "stdin" : Path.GetFileName(_name);
        float[] values = new float[reader.Channels.Count];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!cancellationToken.IsCancellationRequested)
        {
            var (ok, ts) = await reader.ReadAsync(values, cancellationToken).ConfigureAwait(false);
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
