using System.Globalization;
using System.Text;
using EdgeRnn.Forecasting.Anomaly;
using EdgeRnn.Forecasting.Data;
using EdgeRnn.Model;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn detect --input in.csv --output out.csv [--column value] [--warmup N] [--set Name=V[,Name=V...]]
/// Reads a time series (NAB's timestamp,value format, or any CSV SeriesTable reads) and writes
/// timestamp,value,anomaly_score, one row per input row, each score computed from that row and the rows before it only.
/// Without --warmup the warm-up is NAB's probationary period, min(floor(15% of the rows), 750), as NAB's own detectors
/// are given it. The forecaster is built online (no --model: the detector's experts learn from the warm-up onwards).
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
        if (a.Has("model"))
            throw new UsageException("--model is not supported yet: detect builds its forecaster online from the warm-up rows");
        var format = TrainCommand.CsvFormatFrom(a);
        a.RejectUnknown();
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");
        if (!File.Exists(data)) throw new FileNotFoundException($"{data}: no such file", data);

        var table = SeriesTable.Load(data, null, format);
        int col = column is not null ? table.IndexOf(column)
            : table.Names.Count == 1 ? 0 : table.IndexOf("value");
        int rows = table.Rows;
        var options = new AnomalyOptions
        {
            WarmupRows = warmup >= 0 ? warmup : NabProbation(rows),
            SeasonRows = DailySeason(table.Times),
        };
        if (set is not null) options = AnomalyOptionsParser.Apply(options, set);

        var detector = new AnomalyDetector(options);
        float[] values = table.Columns[col];
        var scores = new double[rows];
        for (int r = 0; r < rows; r++) scores[r] = detector.Observe(values[r]);

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
        Console.Error.WriteLine($"edgernn detect: {rows} rows, warm-up {options.WarmupRows}, season {options.SeasonRows}, wrote {output}");
        return 0;
    }

    /// <summary>NAB's probationary period: min(floor(0.15 · rows), 0.15 · 5000).</summary>
    public static int NabProbation(int rows) => (int)Math.Min(Math.Floor(0.15 * rows), 750);

    /// <summary>Rows per day from the median spacing of the timestamps (0 when unknown or not a usable period).</summary>
    public static int DailySeason(DateTime[]? times)
    {
        if (times is null || times.Length < 3) return 0;
        var gaps = new double[times.Length - 1];
        for (int i = 1; i < times.Length; i++) gaps[i - 1] = (times[i] - times[i - 1]).TotalSeconds;
        Array.Sort(gaps);
        double median = gaps[gaps.Length / 2];
        // the daemon's rule for a stream's period, so `run` scores a stream as `detect` scores its file
        return median > 0 ? EdgeRnn.Daemon.StreamAnomaly.DailySeason(TimeSpan.FromSeconds(median)) : 0;
    }
}
