using EdgeRnn.Ingest;

namespace EdgeRnn.Daemon.Tests;

public sealed class DemoSeriesTests
{
    /// <summary>The packed recording the executable embeds is the bundled CSV, row for row, as the project's CSV reader reads it.</summary>
    [Fact]
    public void Embedded_packed_series_equals_the_csv_as_the_reader_reads_it()
    {
        var asm = typeof(Demo).Assembly;
        using var s = asm.GetManifestResourceStream(Demo.SeriesResource)!;
        var (times, values) = Demo.ReadPackedSeries(s, Demo.SeriesResource);

        string csv = Path.Combine(Harness.Root, "models/data/nab/machine_temperature_system_failure.csv");
        using var r = new CsvReader(new StreamReader(csv), csv, format: new CsvFormat { Strict = true });
        float[] row = new float[r.Channels.Count];
        int n = 0;
        while (r.Read(out long ts, row))
        {
            Assert.True(n < times.Length, $"the CSV has more rows than the packed series ({times.Length})");
            Assert.Equal(ts, times[n]);
            Assert.Equal(row[0], values[n]);
            n++;
        }
        Assert.Equal(times.Length, n);
        Assert.True(n > 20_000);
    }

    [Fact]
    public void Damaged_packed_series_is_a_clean_error()
    {
        Assert.Throws<InvalidDataException>(() => Demo.ReadPackedSeries(new MemoryStream("EDS1\u0005\0\0\0"u8.ToArray()), "x"));
        Assert.Throws<InvalidDataException>(() => Demo.ReadPackedSeries(new MemoryStream("CSV,"u8.ToArray()), "x"));
    }
}
