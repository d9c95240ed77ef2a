using EdgeRnn.Forecasting.Baselines;
using EdgeRnn.Ingest;
using EdgeRnn.Forecasting.Data;

namespace EdgeRnn.Forecasting.Tests;

public class DataTests
{
    [Fact]
    public void Reads_ett_style_csv_with_date_column()
    {
        var t = SeriesTable.Read(new StringReader("date,HUFL,OT\n2016-07-01 00:00:00,5.8,30.5\n2016-07-01 01:00:00,5.6,27.7\n2016-07-01 02:00:00,,27.0\n"), "x.csv");
        Assert.Equal("date", t.TimeColumn);
        Assert.Equal(["HUFL", "OT"], t.Names);
        Assert.Equal(3, t.Rows);
        Assert.Equal(30.5f, t.Columns[1][0]);
        Assert.True(float.IsNaN(t.Columns[0][2])); // empty cell = missing
        Assert.Equal(TimeSpan.FromHours(1), SeriesPrep.DetectSamplePeriod(t.Times));
        Assert.Equal([1], t.Resolve("OT"));
        Assert.Equal([0, 1], t.Resolve("all"));
    }

    [Fact]
    public void Reads_epoch_time_and_explicit_time_column_and_drops_text_columns()
    {
        var t = SeriesTable.Read(new StringReader("ts,label,v\n1700000000,a,1\n1700000300,b,2\n1700000600,c,3\n"), "e.csv");
        Assert.Equal("ts", t.TimeColumn);
        Assert.Equal(["v"], t.Names);
        Assert.Equal(TimeSpan.FromMinutes(5), SeriesPrep.DetectSamplePeriod(t.Times));
        var u = SeriesTable.Read(new StringReader("a,b\n1,2\n3,4\n"), "n.csv", timeColumn: "a");
        Assert.Equal(["b"], u.Names);
        Assert.Equal(DateTime.UnixEpoch.AddSeconds(3), u.Times![1]);
    }

    [Fact]
    public void Bad_input_names_file_and_line()
    {
        var log = new List<string>();
        var t = SeriesTable.Read(new StringReader("date,v\n2020-01-01,1\n2020-01-02,2,3\n2020-01-03,3\n"), "bad.csv", format: new CsvFormat { OnBadRow = log.Add });
        Assert.Equal([1f, 3f], t.Columns[0]);
        Assert.Equal(1, t.BadRows);
        Assert.Contains(log, l => l.StartsWith("bad.csv:3: 3 fields", StringComparison.Ordinal));
        var f = Assert.Throws<ArgumentException>(() => SeriesTable.Read(new StringReader("date,v\n2020-01-01,1\n"), "b.csv").Resolve("nope"));
        Assert.Contains("nope", f.Message);
        Assert.Throws<InvalidDataException>(() => SeriesTable.Read(new StringReader("date,v\n2020-01-01,1\n2020-01-02,2,3\n"), "s.csv", format: new CsvFormat { Strict = true }));
    }

    // issue 15: `train` and `run` read a CSV alike: a Home Assistant export with quirks, one sensor chosen from two.
    [Fact]
    public void Home_Assistant_history_with_two_sensors_needs_a_choice_and_reads_the_chosen_one()
    {
        const string csv = "entity_id,state,last_changed\n" +
            "sensor.outdoor,21.5,2024-05-01T10:00:00.000Z\n" +
            "sensor.outdoor,unavailable,2024-05-01T10:05:00.000Z\n" +
            "sensor.humidity,55,2024-05-01T10:00:00.000Z\n" +
            "sensor.outdoor,22.5,2024-05-01T10:10:00.000Z\n";
        var e = Assert.Throws<InvalidDataException>(() => SeriesTable.Read(new StringReader(csv), "ha.csv"));
        Assert.Contains("sensor.outdoor, sensor.humidity", e.Message);
        var log = new List<string>();
        var t = SeriesTable.Read(new StringReader(csv), "ha.csv", format: new CsvFormat { Id = "sensor.outdoor", OnBadRow = log.Add });
        Assert.Equal(["state"], t.Names);
        Assert.Equal("last_changed", t.TimeColumn);
        Assert.Equal(3, t.Rows);
        Assert.True(float.IsNaN(t.Columns[0][1]));
        Assert.Equal(22.5f, t.Columns[0][2]);
        Assert.Empty(log);
        Assert.Equal(TimeSpan.FromMinutes(5), SeriesPrep.DetectSamplePeriod(t.Times));
    }

    [Fact]
    public void Real_files_have_their_time_columns_and_periods()
    {
        var ett = SeriesTable.Load(TestData.Ett);
        Assert.Equal("date", ett.TimeColumn);
        Assert.Equal(7, ett.Names.Count);
        Assert.Equal(TimeSpan.FromHours(1), SeriesPrep.DetectSamplePeriod(ett.Times));
        Assert.Equal(24, SeriesPrep.DetectSeason(ett.Columns[6].AsSpan(0, 8640), TimeSpan.FromHours(1)));
        var nab = SeriesTable.Load(TestData.MachineTemperature);
        Assert.Equal("timestamp", nab.TimeColumn);
        Assert.Equal(TimeSpan.FromMinutes(5), SeriesPrep.DetectSamplePeriod(nab.Times));
        var times = new[] { 0, 1, 2, 5, 6 }.Select(h => DateTime.UnixEpoch.AddHours(h)).ToArray();
        Assert.Equal(1, SeriesPrep.CountGaps(times, SeriesPrep.DetectSamplePeriod(times)));
    }

    [Fact]
    public void Season_from_autocorrelation_without_timestamps()
    {
        var x = Enumerable.Range(0, 2000).Select(t => (float)Math.Sin(2 * Math.PI * t / 17)).ToArray();
        Assert.Equal(17, SeriesPrep.DetectSeason(x, null));
    }

    [Fact]
    public void Forward_fill_and_zscore_ignore_missing_values()
    {
        float n = float.NaN;
        Assert.Equal([2f, 2f, 3f, 3f], MissingValues.ForwardFill([n, 2, 3, n]));
        var (m, s) = SeriesPrep.FitZScore([1, n, 3]);
        Assert.Equal(2f, m);
        Assert.Equal(1f, s, 5);
    }

    [Fact]
    public void Trainer_fits_the_skip_path_on_the_models_own_scaler()
    {
        var x = TestData.Drifting(1000, 10_000, 3);
        x[100] = float.NaN; // a gap in the training rows: filled for inputs, skipped as a target
        var split = new TrainSplit(600, 599, 800 - 1 - 4, 800);
        var o = new TrainOptions { Epochs = 0, Hidden = 4, StepsPerEpoch = 1, Chunk = 48, Warmup = 8, Batch = 2, Lookback = 48, Seed = 1 };
        var (model, _) = HybridTrainer.Train([x], ["v"], 1, 4, TimeSpan.FromHours(1), split, o);

        var (m, s) = SeriesPrep.FitZScore(x.AsSpan(0, split.TrainEnd));
        Assert.Equal(m, model.Scaler.Mean[0]);
        Assert.Equal(s, model.Scaler.Std[0]);
        Assert.Equal(m, model.Scaler.TargetMean[0]);
        Assert.Equal(s, model.Scaler.TargetStd[0]);

        // Refit the skip path on series normalized by the model's scaler: bit-identical to what the trainer shipped.
        var zf = model.Scaler.Normalize(0, MissingValues.ForwardFill(x));
        var zt = model.Scaler.Normalize(0, x);
        Assert.True(float.IsNaN(zt[100]));
        var skip = LinearSkip.Fit([zf], [zt], split.TrainEnd, model.Skip!.Lookback, 4, relative: true);
        HybridTrainer.ShrinkTowardLast(skip, [zf], [zt], split);
        Assert.Equal(skip.Weight, model.Skip.Weight);
        Assert.Equal(skip.Bias, model.Skip.Bias);
    }
}
