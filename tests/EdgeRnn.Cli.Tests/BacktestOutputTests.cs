using System.Globalization;
using System.Xml.Linq;
using EdgeRnn.Cli.Commands;
using EdgeRnn.Forecasting;
using EdgeRnn.Forecasting.Backtest;
using EdgeRnn.Forecasting.Data;

namespace EdgeRnn.Cli.Tests;

/// <summary>issue 15, build item 7: backtest --output FILE.csv (the per-window forecasts) and --plot FILE.svg.</summary>
public sealed class BacktestOutputTests
{
    private static readonly string Ett = Path.Combine(Repo.Root, "models", "data", "ett", "ETTh1.csv");

    private static double Num(string cell) => double.Parse(cell, NumberStyles.Float, CultureInfo.InvariantCulture);

    [Fact]
    public void Output_csv_has_every_window_target_and_step_with_the_files_own_truth_and_times_and_the_plot_one_panel_per_target()
    {
        string dir = Directory.CreateTempSubdirectory("edgernn-bt-").FullName;
        try
        {
            string csv = Path.Combine(dir, "windows.csv"), svg = Path.Combine(dir, "backtest.svg");
            const int H = 3;
            Assert.Equal(0, BacktestCommand.Run(["--input", Ett, "--rows", "1200", "--protocol", "ltsf", "--target", "OT,HUFL", "--horizon", H.ToString(CultureInfo.InvariantCulture),
                "--epochs", "1", "--hidden", "8", "--output", csv, "--plot", svg]));

            // ETTh1's own rows: date, then HUFL..OT.
            var file = File.ReadLines(Ett).Take(1201).Select(l => l.Split(',')).ToArray();
            int Col(string name) => Array.IndexOf(file[0], name);

            var lines = File.ReadAllLines(csv);
            Assert.Equal("origin_row,origin_time,target,k,row,time,forecast,truth,lower,upper", lines[0]);
            // 1200 rows, 70/10/20 by rows: windows from origin 959 (the row before the test span) to 1199 - H.
            int first = 959, last = 1199 - H, windows = last - first + 1;
            Assert.Equal(windows * 2 * H, lines.Length - 1);
            var seen = new HashSet<(int, string, int)>();
            int withInterval = 0;
            foreach (string line in lines.Skip(1))
            {
                var c = line.Split(',');
                Assert.Equal(10, c.Length);
                int origin = int.Parse(c[0], CultureInfo.InvariantCulture), k = int.Parse(c[3], CultureInfo.InvariantCulture), row = int.Parse(c[4], CultureInfo.InvariantCulture);
                string target = c[2];
                Assert.InRange(origin, first, last);
                Assert.InRange(k, 1, H);
                Assert.Equal(origin + k, row);
                Assert.Contains(target, new[] { "OT", "HUFL" });
                Assert.True(seen.Add((origin, target, k)), $"duplicate {line}");
                // rows are data rows: file line r + 1 (after the header)
                Assert.Equal(file[origin + 1][0], c[1]);
                Assert.Equal(file[row + 1][0], c[5]);
                Assert.Equal((float)Num(file[row + 1][Col(target)]), (float)Num(c[7]));
                Assert.True(double.IsFinite(Num(c[6])), line);
                if (c[8].Length > 0)
                {
                    withInterval++;
                    Assert.True(Num(c[8]) <= Num(c[9]), $"lower above upper: {line}");
                }
            }
            Assert.True(withInterval > windows, $"only {withInterval} rows carry an interval");

            var doc = XDocument.Parse(File.ReadAllText(svg));
            var ns = XNamespace.Get("http://www.w3.org/2000/svg");
            Assert.Equal("svg", doc.Root!.Name.LocalName);
            var titles = doc.Descendants(ns + "text").Select(t => t.Value).Where(t => t.Contains("(rows;", StringComparison.Ordinal)).ToArray();
            Assert.Equal(2, titles.Length);                              // one panel per target
            Assert.StartsWith("OT ", titles[0]);
            Assert.StartsWith("HUFL ", titles[1]);
            var legends = doc.Descendants(ns + "text").Select(t => t.Value).ToArray();
            Assert.Equal(2, legends.Count(t => t == "truth"));
            Assert.Equal(2, legends.Count(t => t == "forecast, 1 step ahead"));
            Assert.Equal(2, legends.Count(t => t == $"forecast, {H} steps ahead"));
            Assert.Equal(2, legends.Count(t => t == "interval (1 step), lower"));
            Assert.True(doc.Descendants(ns + "polyline").Count() >= 2 * 5);   // truth, forecast, lower, upper, H-step per panel
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// The CSV holds exactly what the backtest scored: its forecasts and truth, normalized as the runner normalizes them
    /// (the model's scaler; the z-score of the training rows), give the served row's MSE and MAE.
    /// </summary>
    [Fact]
    public void Windows_in_the_csv_reproduce_the_served_rows_score()
    {
        var table = SeriesTable.Load(Path.Combine(Repo.Root, "models", "data", "nab", "machine_temperature_system_failure.csv")).Head(3000);
        var model = ForecasterFile.Load(Path.Combine(Repo.Root, "models", "machine_temperature.safetensors"));
        var text = new StringWriter();
        var sink = new BacktestWindows(table, text, plot: false);
        var report = BacktestRunner.Run(table, new BacktestOptions { Protocol = "ltsf", Target = "", Horizon = 0, Model = model, Windows = sink });
        string served = NetworkFactory.Supports(Precision.Int8) ? "edgernn_int8" : "edgernn_float32";
        Assert.Equal(served, sink.Variant);

        int col = table.IndexOf(model.Targets[0]);
        var (mean, std) = SeriesPrep.FitZScore(table.Columns[col].AsSpan(0, 2100));   // 70 % of 3000 rows
        double se = 0, ae = 0;
        long n = 0, origins = 0;
        foreach (string line in text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var c = line.Split(',');
            if (c[3] == "1") origins++;
            float f = model.Scaler.Normalize(0, float.Parse(c[6], CultureInfo.InvariantCulture));
            float t = (float.Parse(c[7], CultureInfo.InvariantCulture) - mean) / std;
            double e = (double)f - t;
            se += e * e; ae += Math.Abs(e); n++;
        }
        Assert.Equal(report.Windows, origins);
        Assert.Equal(report.Windows * model.Horizon, n);
        Assert.Equal(report.Results[served].Mse, se / n, 1e-5);
        Assert.Equal(report.Results[served].Mae, ae / n, 1e-5);
    }
}
