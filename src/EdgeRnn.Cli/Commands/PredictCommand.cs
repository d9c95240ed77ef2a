using System.Globalization;
using System.Text;
using EdgeRnn.Model;
using EdgeRnn.Forecasting;
using EdgeRnn.Ingest;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn predict --model M.safetensors --input in.csv --output out.csv [--precision float32|int8]
/// Input: a header row, then one row of input_size raw numbers per step (the model file's normalization is applied).
/// Output: a header row y0..y{O-1}, then one row of output_size raw values per input row, state starting at zero.
/// The output is written atomically, so a CSV error half-way leaves no partial output file.
/// </summary>
public static class PredictCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, Array.Empty<string>());
        // Unknown flags first: a typo such as --inptu should be named, not reported as a missing --input.
        string? model = a.Get("model"), input = a.Get("input"), output = a.Get("output");
        var precision = a.GetPrecision();
        a.RejectUnknown();
        string modelPath = model ?? throw new UsageException("missing --model");
        string inputPath = input ?? throw new UsageException("missing --input");
        string outputPath = output ?? throw new UsageException("missing --output");
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");

        ForecasterParameters parameters = ModelFile.Load(modelPath);
        IForecaster forecaster = NetworkFactory.Create(parameters, precision);

        if (!File.Exists(inputPath)) throw new FileNotFoundException($"{inputPath}: no such file", inputPath);
        int rows = 0;
        AtomicFile.Write(outputPath, stream =>
        {
            using var reader = new StreamReader(inputPath, Encoding.UTF8);
            using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
            rows = Predict(forecaster, reader, inputPath, writer);
        });
        Console.Error.WriteLine($"edgernn predict: {rows} rows, {parameters.Shape.Arch.ToSpecName()} {precision.Name()}, wrote {outputPath}");
        return 0;
    }

    /// <summary>
    /// Runs every row of a CSV through the forecaster (its current state; Reset first for a fresh start). The rows come from
    /// the one CSV reader (<see cref="CsvRecords"/>, strict): blank and '#' lines are skipped, and every error names file and line.
    /// </summary>
    /// <returns>The number of data rows.</returns>
    public static int Predict(IForecaster forecaster, TextReader input, string inputName, TextWriter output)
    {
        int inSize = forecaster.Shape.InputSize, outSize = forecaster.Shape.OutputSize;
        // Not disposed here: the caller owns the reader.
        var records = new CsvRecords(input, inputName, new CsvFormat { Strict = true });
        if (records.Header.Count != inSize)
            throw new InvalidDataException($"{inputName}:{records.Line}: header has {records.Header.Count} columns, the model takes {inSize} inputs");

        var sb = new StringBuilder();
        for (int j = 0; j < outSize; j++) sb.Append(j == 0 ? "" : ",").Append('y').Append(j.ToString(CultureInfo.InvariantCulture));
        output.WriteLine(sb.ToString());

        var x = new float[inSize];
        var y = new float[outSize];
        int rows = 0;
        while (records.Read() is { } cells)
        {
            for (int j = 0; j < inSize; j++)
            {
                ReadOnlySpan<char> field = cells[j].AsSpan().Trim();
                if (!float.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !float.IsFinite(v))
                    throw new InvalidDataException($"{inputName}:{records.Line}: column {j + 1} ({records.Header[j]}): '{field.ToString()}' is not a finite number");
                x[j] = v;
            }
            forecaster.Step(x, y);
            sb.Clear();
            for (int j = 0; j < outSize; j++)
                sb.Append(j == 0 ? "" : ",").Append(y[j].ToString("R", CultureInfo.InvariantCulture));
            output.WriteLine(sb.ToString());
            rows++;
        }
        return rows;
    }
}
