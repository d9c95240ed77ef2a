using EdgeRnn.Forecasting;
using EdgeRnn.Forecasting.Backtest;
using EdgeRnn.Forecasting.Data;

namespace EdgeRnn.Cli.Tests;

public sealed class BacktestModelTests
{
    /// <summary>
    /// models/machine_temperature.md, ltsf table: EdgeRnn float32 0.05466 / 0.12730, int8 0.05467 / 0.12730, repeat last
    /// value 0.05522, Linear 0.05642, NLinear 0.05654, seasonal naive 4.37360: scored from the bundled file, no retraining.
    /// </summary>
    [Fact]
    public void Backtest_of_the_bundled_model_reproduces_its_model_card()
    {
        var table = SeriesTable.Load(Path.Combine(Repo.Root, "models", "data", "nab", "machine_temperature_system_failure.csv"));
        var model = ForecasterFile.Load(Path.Combine(Repo.Root, "models", "machine_temperature.safetensors"));
        var report = BacktestRunner.Run(table, new BacktestOptions { Protocol = "ltsf", Target = "", Horizon = 0, Model = model });
        Assert.Equal(4528, report.Windows);
        Assert.Equal(0, report.TrainSeconds);
        void Card(string name, double mse, double? mae = null)
        {
            Assert.Equal(mse, Math.Round(report.Results[name].Mse, 5));
            if (mae is { } m) Assert.Equal(m, Math.Round(report.Results[name].Mae, 5));
        }
        Card("edgernn_float32_frozen", 0.05466, 0.12730);
        Card("edgernn_int8_frozen", 0.05467, 0.12730);
        Card("naive", 0.05522, 0.12516);
        Card("linear", 0.05642, 0.13907);
        Card("nlinear", 0.05654, 0.13253);
        Card("seasonal_naive", 4.37360, 1.26819);
    }
}
