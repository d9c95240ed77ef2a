using System.Globalization;
using System.Text;
using EdgeRnn.Forecasting;
using EdgeRnn.Forecasting.Anomaly;
using EdgeRnn.Forecasting.Data;
using EdgeRnn.Model;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn detect --input in.csv --output out.csv [--column value] [--warmup N] [--set Name=V[,Name=V...]]
///                [--model M.safetensors [--precision int8|float32]]
/// Reads a time series (NAB's timestamp,value format, or any CSV SeriesTable reads) and writes
/// timestamp,value,anomaly_score, one row per input row, each score computed from that row and the rows before it only.
/// Without --warmup the warm-up is NAB's probationary period, min(floor(15% of the rows), 750), as NAB's own detectors
/// are given it. The detector's own experts learn online from the warm-up onwards. With --model, the model's served
/// forecast (<see cref="StreamForecaster"/>: the online aggregate of the network and the simple experts, as `edgernn run`
/// serves it, frozen weights) is fed row by row beside the value, and its residuals are one more surprise channel.
/// </summary>
public static class DetectCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, Array.Empty<string>());
        string data = a.Require("input");
        string output = a.Require("output");
        string? column = a.Get("column");
        int warmup = a.GetInt("warmup", -1);
        string? set = a.Get("set");
        string? modelPath = a.Get("model");
        Precision precision = a.GetPrecision();
        var format = TrainCommand.CsvFormatFrom(a);
        a.RejectUnknown();
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");
        if (!File.Exists(data)) throw new FileNotFoundException($"{data}: no such file", data);

        var table = SeriesTable.Load(data, null, format);
        int col = column is not null ? table.IndexOf(column)
            : table.Names.Count == 1 ? 0 : table.IndexOf("value");
        int rows = table.Rows;
        var options = EdgeRnn.Daemon.StreamAnomaly.Options(MedianPeriod(table.Times), set, warmup >= 0 ? warmup : NabProbation(rows));

        var detector = new AnomalyDetector(options);
        float[] values = table.Columns[col];
        var scores = new double[rows];
        if (modelPath is null)
        {
            for (int r = 0; r < rows; r++) scores[r] = detector.Observe(values[r]);
        }
        else
        {
            using var forecaster = StreamForecaster.Load(modelPath,
                new StreamForecasterOptions { Precision = precision, FineTune = false, BackgroundLearning = false });
            if (forecaster.InputChannels.Count != 1 || forecaster.Targets.Count != 1)
                throw new UsageException($"{modelPath}: detect needs a model of one input channel and one target (it has " +
                                         $"inputs {string.Join(",", forecaster.InputChannels)}, targets {string.Join(",", forecaster.Targets)})");
            var sample = new float[1];
            var forecast = new float[forecaster.Horizon];
            for (int r = 0; r < rows; r++)
            {
                sample[0] = values[r];
                bool ready = forecaster.Observe(sample, forecast);
                scores[r] = detector.Observe(values[r], ready ? forecast : ReadOnlySpan<float>.Empty);
            }
        }

        AtomicFile.Write(output, stream =>
        {
            using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
            w.WriteLine($"timestamp,{table.Names[col]},anomaly_score");
            for (int r = 0; r < rows; r++)
            {
                string ts = table.Times is null ? r.ToString(CultureInfo.InvariantCulture)
                    : table.Times[r].ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
                w.Write(ts); w.Write(',');
                w.Write(values[r].ToString("R", CultureInfo.InvariantCulture)); w.Write(',');
                w.WriteLine(scores[r].ToString("R", CultureInfo.InvariantCulture));
            }
        });
        string with = modelPath is null ? "" : $", model {modelPath} ({precision.Name()})";
        Console.Error.WriteLine($"edgernn detect: {rows} rows, warm-up {options.WarmupRows}, season {options.SeasonRows}{with}, wrote {output}");
        return 0;
    }

    /// <summary>NAB's probationary period: min(floor(0.15 · rows), 0.15 · 5000).</summary>
    public static int NabProbation(int rows) => (int)Math.Min(Math.Floor(0.15 * rows), 750);

    /// <summary>The median spacing of the timestamps (null when unknown); the daemon's rule turns it into the daily season.</summary>
    public static TimeSpan? MedianPeriod(DateTime[]? times)
    {
        if (times is null || times.Length < 3) return null;
        var gaps = new double[times.Length - 1];
        for (int i = 1; i < times.Length; i++) gaps[i - 1] = (times[i] - times[i - 1]).TotalSeconds;
        Array.Sort(gaps);
        double median = gaps[gaps.Length / 2];
        return median > 0 ? TimeSpan.FromSeconds(median) : null;
    }
}
