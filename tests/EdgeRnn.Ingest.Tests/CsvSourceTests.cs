namespace EdgeRnn.Ingest.Tests;

public class CsvSourceTests
{
    private sealed class Rows : ISampleSink
    {
        public readonly List<(string Stream, long Ts, float[] V)> Got = new();
        public void OnSample(string stream, long timestampMs, ReadOnlySpan<float> values) => Got.Add((stream, timestampMs, values.ToArray()));
    }

    private static async Task<Rows> Run(string text, CsvOptions? o = null, string name = "t.csv")
    {
        var rows = new Rows();
        await using var src = CsvSource.FromReader(new StringReader(text), name, o);
        await src.RunAsync(rows, CancellationToken.None);
        return rows;
    }

    [Fact]
    public async Task Iso_epoch_seconds_and_epoch_ms_timestamps()
    {
        var iso = await Run("date,a,b\n2016-07-01 00:00:00,1,2\n2016-07-01T01:00:00Z,3,\n");
        Assert.Equal(new DateTimeOffset(2016, 7, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), iso.Got[0].Ts);
        Assert.Equal(3_600_000, iso.Got[1].Ts - iso.Got[0].Ts);
        Assert.True(float.IsNaN(iso.Got[1].V[1]));  // an empty cell is missing, not zero
        var sec = await Run("timestamp,v\n1700000000,1\n1700000001.5,2\n");
        Assert.Equal(1_700_000_000_000, sec.Got[0].Ts);
        Assert.Equal(1_700_000_001_500, sec.Got[1].Ts);
        var ms = await Run("ts,v\n1700000000000,1\n");
        Assert.Equal(1_700_000_000_000, ms.Got[0].Ts);
    }

    [Fact]
    public async Task Column_selection_and_synthetic_timestamps()
    {
        var r = await Run("x,y,z\n1,2,3\n4,5,6\n", new CsvOptions { Columns = ["z", "x"], SyntheticPeriodMs = 250 });
        Assert.Equal(new[] { 3f, 1f }, r.Got[0].V);
        Assert.Equal(250, r.Got[1].Ts - r.Got[0].Ts);
        Assert.Equal("t.csv", r.Got[0].Stream);
    }

    [Fact]
    public async Task Errors_name_the_file_line_and_column()
    {
        var log = new List<string>();
        var r = await Run("ts,temp\n1,2\n2,abc\n", new CsvOptions { Log = log.Add }, name: "plant.csv");
        Assert.Single(r.Got);
        Assert.Contains(log, l => l.Contains("plant.csv:3") && l.Contains("'temp'"));
        log.Clear();
        await Run("time,v\nyesterday,1\n", new CsvOptions { Log = log.Add }, name: "p.csv");
        Assert.Contains(log, l => l.Contains("p.csv:2") && l.Contains("ISO 8601"));
        log.Clear();
        await Run("a,b\n1\n", new CsvOptions { Log = log.Add }, name: "q.csv");
        Assert.Contains(log, l => l.Contains("q.csv:2") && l.Contains("1 fields, the header has 2"));
        var c = await Assert.ThrowsAsync<InvalidDataException>(() => Run("a,b\n1,2\n", new CsvOptions { Columns = ["nope"] }));
        Assert.Contains("no column 'nope'", c.Message);
    }

    // issue 13 row 5: one bad row (text, wrong field count) is counted and skipped; the rows after it still arrive, once.
    [Fact]
    public async Task A_bad_row_is_counted_and_skipped_and_the_stream_goes_on()
    {
        var log = new List<string>();
        var rows = new Rows();
        string text = "ts,v\n1,1\n2,abc\n3\n" + string.Concat(Enumerable.Range(4, 500).Select(i => $"{i},{i}\n"));
        await using var src = CsvSource.FromReader(new StringReader(text), "stdin", new CsvOptions { Log = log.Add });
        await src.RunAsync(rows, CancellationToken.None);
        Assert.Equal(501, rows.Got.Count);
        Assert.Equal([1f, 4f, 5f], rows.Got.Take(3).Select(g => g.V[0]));
        Assert.Equal(503_000, rows.Got[^1].Ts);
        Assert.Equal(2, src.Counters["bad_rows"]);
        Assert.Equal(["stdin:3", "stdin:4"], log.Select(l => l[..l.IndexOf(':', 6)]));
    }

    // issue 13 row 6: a line beyond the limit is counted and skipped without ever being held whole.
    [Fact]
    public void An_overlong_line_is_skipped_without_holding_it_in_memory()
    {
        string huge = new('7', 16 << 20);
        var log = new List<string>();
        using var r = new CsvReader(new StringReader("ts,v\n1,1\n2," + huge + "\n3,3\n"), "big.csv",
            format: new CsvFormat { MaxLineLength = 4096, OnBadRow = log.Add });
        var v = new float[1];
        long before = GC.GetAllocatedBytesForCurrentThread();
        var got = new List<float>();
        while (r.Read(out _, v)) got.Add(v[0]);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal([1f, 3f], got);
        Assert.Equal(1, r.Records.LongLines);
        Assert.Contains(log, l => l.StartsWith("big.csv:3: line longer than 4096", StringComparison.Ordinal));
        Assert.True(allocated < 1 << 20, $"{allocated} bytes allocated reading a 16M-character line");
    }

    // issue 15: a Home Assistant history export (long format, unavailable/unknown cells) reads as one series.
    [Fact]
    public async Task Home_Assistant_history_export_reads_with_unavailable_as_missing()
    {
        const string csv = "entity_id,state,last_changed\n" +
            "sensor.outdoor,21.5,2024-05-01T10:00:00.000Z\n" +
            "sensor.outdoor,unavailable,2024-05-01T10:05:00.000Z\n" +
            "sensor.outdoor,unknown,2024-05-01T10:10:00.000Z\n" +
            "sensor.outdoor,22,2024-05-01T10:15:00.000Z\n";
        var log = new List<string>();
        var rows = new Rows();
        await using var src = CsvSource.FromReader(new StringReader(csv), "history.csv", new CsvOptions { Log = log.Add });
        await src.RunAsync(rows, CancellationToken.None);
        Assert.Empty(log);
        Assert.Equal(4, rows.Got.Count);
        Assert.Equal(["state"], src.Channels);
        Assert.True(float.IsNaN(rows.Got[1].V[0]) && float.IsNaN(rows.Got[2].V[0]));
        Assert.Equal(15 * 60_000, rows.Got[3].Ts - rows.Got[0].Ts);
        Assert.Equal(2, src.Counters["missing_values"]);
    }

    [Fact]
    public async Task Several_ids_without_a_choice_is_an_error_and_a_choice_reads_one_series()
    {
        const string csv = "entity_id,state,last_changed\nsensor.a,1,1700000000\nsensor.b,50,1700000000\nsensor.a,2,1700000300\n";
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Run(csv, name: "two.csv"));
        Assert.Contains("two.csv:3", e.Message);
        Assert.Contains("sensor.a", e.Message);
        Assert.Contains("sensor.b", e.Message);
        var b = await Run(csv, new CsvOptions { Id = "sensor.a" });
        Assert.Equal([1f, 2f], b.Got.Select(g => g.V[0]));
    }

    [Fact]
    public async Task Semicolons_tabs_decimal_commas_and_comment_lines()
    {
        var semi = await Run("# exported by a spreadsheet\ntime;temp;hum\n2024-01-01 00:00;21,5;40\n# a note\n2024-01-01 01:00;22,0;41\n");
        Assert.Equal([21.5f, 40f], semi.Got[0].V);
        Assert.Equal(2, semi.Got.Count);
        var tab = await Run("ts\ta\tb\n1\t1.5\t2\n");
        Assert.Equal([1.5f, 2f], tab.Got[0].V);
        // InfluxDB annotated CSV: '#' annotation rows before the header
        var influx = await Run("#datatype,string,double,dateTime:RFC3339\n#group,false,false,false\nresult,_value,_time\n,3.5,2024-01-01T00:00:00Z\n",
            new CsvOptions { Columns = ["_value"] });
        Assert.Equal(3.5f, influx.Got[0].V[0]);
    }

    [Fact]
    public async Task Reads_the_bundled_ETTh1_file()
    {
        string path = Path.Combine(TestPaths.Root, "models", "data", "ett", "ETTh1.csv");
        var rows = new Rows();
        await using var src = new CsvSource(path, new CsvOptions { Columns = ["OT", "HUFL"] });
        await src.RunAsync(rows, CancellationToken.None);
        Assert.Equal(17420, rows.Got.Count);
        Assert.All(rows.Got.Zip(rows.Got.Skip(1)), p => Assert.Equal(3_600_000, p.Second.Ts - p.First.Ts));
        Assert.Equal(["OT", "HUFL"], src.Channels);
        Assert.Equal(17420, src.Counters["rows"]);
    }
}
