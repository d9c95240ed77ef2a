using System.Globalization;
using System.Text;
using EdgeRnn.Model;
using EdgeRnn.Forecasting;

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

    /// <summary>Runs every row of a CSV through the forecaster (its current state; Reset first for a fresh start).</summary>
    /// <returns>The number of data rows.</returns>
    public static int Predict(IForecaster forecaster, TextReader input, string inputName, TextWriter output)
    {
        int inSize = forecaster.Shape.InputSize, outSize = forecaster.Shape.OutputSize;
        string? header = input.ReadLine();
        if (header is null) throw new InvalidDataException($"{inputName}: line 1: empty file, expected a header row");
        int headerColumns = header.TrimEnd('\r').Split(',').Length;
        if (headerColumns != inSize)
            throw new InvalidDataException($"{inputName}: line 1: header has {headerColumns} columns, the model takes {inSize} inputs");

        var sb = new StringBuilder();
        for (int j = 0; j < outSize; j++) sb.Append(j == 0 ? "" : ",").Append('y').Append(j.ToString(CultureInfo.InvariantCulture));
        output.WriteLine(sb.ToString());

        var x = new float[inSize];
        var y = new float[outSize];
        int lineNumber = 1, rows = 0;
        string? line;
        while ((line = input.ReadLine()) is not null)
        {
            lineNumber++;
            ReadOnlySpan<char> rest = line.AsSpan().TrimEnd('\r');
            if (rest.IsWhiteSpace()) continue;
            int column = 0;
            while (true)
            {
                int comma = rest.IndexOf(',');
                ReadOnlySpan<char> field = (comma < 0 ? rest : rest[..comma]).Trim();
                column++;
                if (column > inSize)
                    throw new InvalidDataException($"{inputName}: line {lineNumber}: more than {inSize} columns");
                if (!float.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !float.IsFinite(v))
                    throw new InvalidDataException($"{inputName}: line {lineNumber}, column {column}: '{field.ToString()}' is not a finite number");
                x[column - 1] = v;
                if (comma < 0) break;
                rest = rest[(comma + 1)..];
            }
            if (column != inSize)
                throw new InvalidDataException($"{inputName}: line {lineNumber}: {column} columns, expected {inSize}");
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
