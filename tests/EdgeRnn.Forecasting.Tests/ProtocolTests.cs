using System.Text.Json;
using EdgeRnn.Forecasting.Backtest;
using EdgeRnn.Forecasting.Data;

namespace EdgeRnn.Forecasting.Tests;

public class ProtocolTests
{
    private static readonly TrainOptions Tiny = new() { Epochs = 2, Hidden = 8, StepsPerEpoch = 4, Chunk = 48, Warmup = 8, Batch = 4 };

    [Fact]
    public void Ltsf_without_twenty_months_splits_70_10_20_by_rows()
    {
        var x = TestData.Drifting(1000, 10_000, 1);
        var r = BacktestRunner.Run(TestData.Table(("v", x)), new BacktestOptions { Protocol = "ltsf", Target = "v", Horizon = 10, Lookback = 48, Train = Tiny });
        // test rows [800, 1000): forecasts at rows 799..989
        Assert.Equal(191, r.Windows);
        Assert.Equal(48, r.Lookback);
    }

    [Fact]
    public void Ltsf_on_ETT_uses_the_DLinear_month_borders()
    {
        var r = BacktestRunner.Run(SeriesTable.Load(TestData.Ett).Head(14400), new BacktestOptions
        { Protocol = "ltsf", Target = "OT", Horizon = 24, Train = Tiny with { Epochs = 0 } });
        // first target 11520 (row 11519's forecast) through the last full window ending at 14399
        Assert.Equal(2880 - 24 + 1, r.Windows);
    }

    [Fact]
    public void Online_scores_the_last_75_percent_and_reports_json_shape()
    {
        var x = TestData.Drifting(1000, 600, 2);
        var r = BacktestRunner.Run(TestData.Table(("v", x), ("w", x.Select(v => -v).ToArray())), new BacktestOptions
        { Protocol = "online", Target = "all", Horizon = 5, Lookback = 48, Train = Tiny });
        Assert.Equal(994 - 249 + 1, r.Windows); // forecasts at rows 249 (last validation row) .. 994 (targets 995..999)
        using var doc = JsonDocument.Parse(r.ToJson());
        var root = doc.RootElement;
        Assert.Equal("synthetic.csv", root.GetProperty("data").GetString());
        Assert.Equal("online", root.GetProperty("protocol").GetString());
        Assert.Equal("all", root.GetProperty("target").GetString());
        Assert.Equal(5, root.GetProperty("horizon").GetInt32());
        var results = root.GetProperty("results");
        foreach (string k in new[] { "edgernn_float32", "edgernn_int8", "edgernn_int8_frozen", "edgernn_float32_frozen", "naive", "seasonal_naive", "linear", "nlinear" })
        {
            Assert.True(results.GetProperty(k).GetProperty("mse").GetDouble() >= 0, k);
            Assert.True(results.GetProperty(k).GetProperty("mae").GetDouble() >= 0, k);
        }
        Assert.Equal(r.Results["naive"].Mse, BacktestReport.FromJson(r.ToJson()).Results["naive"].Mse);
        // The served aggregate carries its interval figures; each expert is reported; the text shows the final weights.
        foreach (string k in new[] { "edgernn_float32", "edgernn_int8" })
        {
            Assert.InRange(results.GetProperty(k).GetProperty("coverage").GetDouble(), 0.5, 1.0);
            Assert.True(results.GetProperty(k).GetProperty("interval_width").GetDouble() > 0, k);
        }
        Assert.False(results.GetProperty("edgernn_int8_frozen").TryGetProperty("coverage", out _));
        foreach (string e in new[] { "naive", "seasonal_naive", "online_linear", "nlinear_skip", "network_frozen", "network_tuned" })
            Assert.True(results.GetProperty("expert_" + e).GetProperty("mse").GetDouble() >= 0, e);
        // The repeat-last-value expert is the naive baseline, value for value.
        Assert.Equal(r.Results["naive"].Mse, r.Results["expert_naive"].Mse, 6);
        Assert.Equal(r.Results["seasonal_naive"].Mse, r.Results["expert_seasonal_naive"].Mse, 6);
        Assert.Equal(r.Results["edgernn_int8_frozen"].Mse, r.Results["expert_network_frozen"].Mse, 6);
        Assert.Equal(5, root.GetProperty("expert_weights").GetProperty("network_tuned").GetArrayLength());
        Assert.Contains("final expert weights per horizon step", r.ToTable());
    }

    [Fact]
    public void Ltsf_edgernn_beats_naive_on_a_short_ETT_slice()
    {
        var table = SeriesTable.Load(TestData.Ett).Head(3000);
        var r = BacktestRunner.Run(table, new BacktestOptions
        { Protocol = "ltsf", Target = "OT", Horizon = 24, Lookback = 96, Train = new TrainOptions { Epochs = 3, Hidden = 16, StepsPerEpoch = 20 } });
        Assert.True(r.Results["edgernn_float32"].Mse < r.Results["naive"].Mse, $"{r.Results["edgernn_float32"].Mse} vs naive {r.Results["naive"].Mse}");
        Assert.True(r.Results["edgernn_float32"].Mse < r.Results["seasonal_naive"].Mse);
        // int8 within 1 % relative MSE of float32 on the same windows.
        double f = r.Results["edgernn_float32"].Mse, q = r.Results["edgernn_int8"].Mse;
        Assert.True(Math.Abs(q - f) <= 0.01 * f, $"int8 {q} vs float32 {f}");
        Assert.True(q < r.Results["naive"].Mse);
    }

    [Fact]
    public void Fine_tuning_on_beats_off_on_a_drifting_series()
    {
        // The daily shape changes after the training part: only a model that keeps learning can follow it.
        var x = TestData.Drifting(3000, 900, 5);
        var r = BacktestRunner.Run(TestData.Table(("v", x)), new BacktestOptions
        {
            Protocol = "online", Target = "v", Horizon = 6, Lookback = 48, Int8 = false,
            Train = new TrainOptions { Epochs = 3, Hidden = 16, StepsPerEpoch = 20, Skip = SkipKind.Last },
            Online = new OnlineOptions { Every = 4, LearningRate = 2e-3f },
        });
        double on = r.Results["edgernn_float32"].Mse, off = r.Results["edgernn_float32_frozen"].Mse;
        Assert.True(on < 0.9 * off, $"fine-tuned {on} vs frozen {off}");
        Assert.True(r.OnlineUpdates > 100);
    }
}
