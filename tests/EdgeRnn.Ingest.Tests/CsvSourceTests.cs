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
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Run("ts,temp\n1,2\n2,abc\n", name: "plant.csv"));
        Assert.Contains("plant.csv:3", e.Message);
        Assert.Contains("'temp'", e.Message);
        var t = await Assert.ThrowsAsync<InvalidDataException>(() => Run("time,v\nyesterday,1\n", name: "p.csv"));
        Assert.Contains("p.csv:2", t.Message);
        Assert.Contains("ISO 8601", t.Message);
        var w = await Assert.ThrowsAsync<InvalidDataException>(() => Run("a,b\n1\n", name: "q.csv"));
        Assert.Contains("q.csv:2", w.Message);
        var c = await Assert.ThrowsAsync<InvalidDataException>(() => Run("a,b\n1,2\n", new CsvOptions { Columns = ["nope"] }));
        Assert.Contains("no column 'nope'", c.Message);
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
