using System.Text;
using EdgeRnn.Forecasting;
using EdgeRnn.Forecasting.Data;
using EdgeRnn.Model;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn forecast --model M --input in.csv --output out.csv [--precision float32|int8] [--targets A,B] [--features A,B,C] [--time COL] [--aggregate]
/// Real forecasts in sensor units: one row per input row once the lookback is filled, the time column carried through,
/// then &lt;target&gt;@&lt;k&gt; for k = 1..H (see <see cref="ForecastCsv"/>). --targets and --features say what a network-only
/// file's outputs and inputs are (a forecaster file says it itself). By default the model's own forecast (what
/// tools/pytorch/edgernn_model.py computes); with --aggregate what `edgernn run` serves: the online aggregate of the
/// model and the simple experts, fed the same rows. The output is written atomically.
/// </summary>
public static class ForecastCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, ["aggregate"]);
        string? model = a.Get("model"), input = a.Get("input"), output = a.Get("output"), time = a.Get("time");
        string precisionText = a.Get("precision") ?? "float32";
        var networkOnly = ParseNetworkOnly(a);
        bool aggregate = a.GetSwitch("aggregate");
        a.RejectUnknown();
        string modelPath = model ?? throw new UsageException("missing --model");
        string inputPath = input ?? throw new UsageException("missing --input");
        string outputPath = output ?? throw new UsageException("missing --output");
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");
        Precision precision = ParsePrecision(precisionText);

        var m = ForecasterFile.Load(modelPath, networkOnly);
        if (!File.Exists(inputPath)) throw new FileNotFoundException($"{inputPath}: no such file", inputPath);
        var table = SeriesTable.Load(inputPath, time);
        int rows = 0;
        AtomicFile.Write(outputPath, stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
            rows = ForecastCsv.Write(m, new StreamForecasterOptions { Precision = precision, FineTune = false, Aggregate = aggregate }, table, writer);
        });
        Console.Error.WriteLine($"edgernn forecast: {table.Rows} input rows, {rows} forecast rows ({m.Horizon} steps of {string.Join(",", m.Targets)}), {precisionText}, wrote {outputPath}");
        return 0;
    }

    public static Precision ParsePrecision(string text) => text switch
    {
        "float32" => Precision.Float32,
        "int8" => Precision.Int8,
        _ => throw new UsageException($"--precision must be float32 or int8, got '{text}'"),
    };

    /// <summary>--targets / --features: what a network-only file's outputs and inputs are (null when neither is given).</summary>
    public static NetworkOnlyInfo? ParseNetworkOnly(Args a)
    {
        static string[]? Split(string? v) => v?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        string[]? targets = Split(a.Get("targets")), features = Split(a.Get("features"));
        if (targets is { Length: 0 }) throw new UsageException("--targets needs at least one name");
        if (features is { Length: 0 }) throw new UsageException("--features needs at least one name");
        return targets is null && features is null ? null : new NetworkOnlyInfo(targets, features);
    }
}
