using System.Diagnostics;
using System.Globalization;
using EdgeRnn.Cli;
using EdgeRnn.Cli.Commands;
using EdgeRnn.Daemon;
using EdgeRnn.Model;
using Xunit.Abstractions;

namespace EdgeRnn.Cli.Tests;

/// <summary>Runs tests/python/make_fixtures.py once (predict cases only): PyTorch models, inputs and PyTorch's outputs.</summary>
public sealed class PredictFixtures : IDisposable
{
    public string Dir { get; }

    public PredictFixtures()
    {
        Dir = Path.Combine(Path.GetTempPath(), "edgernn-predict-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Dir);
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "EdgeRnn.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repository root not found");
        string script = Path.Combine(root, "tests", "python", "make_fixtures.py");
        string python = Environment.GetEnvironmentVariable("EDGERNN_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1"; // leave the checkout clean
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(Dir);
        psi.ArgumentList.Add("predict");
        using var proc = Process.Start(psi)!;
        string stdout = proc.StandardOutput.ReadToEnd(), stderr = proc.StandardError.ReadToEnd();
        proc.WaitForExit();
        if (proc.ExitCode != 0) throw new InvalidOperationException($"{python} {script} failed ({proc.ExitCode}): {stdout}\n{stderr}");
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

public sealed class PredictTests(PredictFixtures fx, ITestOutputHelper log) : IClassFixture<PredictFixtures>
{
    public static TheoryData<string> Cases => new()
    {
        "lstm_l1", "lstm_l2", "lstm_l2_norm", "gru_l1_norm", "gru_l2",
        "rnn_tanh_l1", "rnn_tanh_l2_norm", "rnn_relu_l1", "rnn_relu_l2_norm", "lstm_l2_h64_norm", "gru_l1_h64",
    };

    private static List<float[]> ReadCsv(string path)
    {
        var rows = new List<float[]>();
        foreach (string line in File.ReadLines(path).Skip(1))
            rows.Add(line.Split(',').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray());
        return rows;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Predict_agrees_with_pytorch(string name)
    {
        string model = Path.Combine(fx.Dir, "predict", name + ".safetensors");
        string input = Path.Combine(fx.Dir, "predict", name + ".in.csv");
        string output = Path.Combine(fx.Dir, "predict", name + ".out.csv");
        int rc = PredictCommand.Run(["--model", model, "--input", input, "--output", output, "--precision", "float32"]);
        Assert.Equal(0, rc);
        Assert.Equal("y0,y1", File.ReadLines(output).First());
        var got = ReadCsv(output);
        var want = ReadCsv(Path.Combine(fx.Dir, "predict", name + ".expected.csv"));
        Assert.Equal(300, want.Count);
        Assert.Equal(want.Count, got.Count);
        double worst = 0;
        for (int t = 0; t < want.Count; t++)
            for (int j = 0; j < want[t].Length; j++)
                worst = Math.Max(worst, Math.Abs(got[t][j] - want[t][j]) / (1 + Math.Abs(want[t][j])));
        log.WriteLine($"{name}: worst |a-b|/(1+|b|) = {worst:E3}");
        Assert.True(worst <= 1e-5, $"{name}: worst relative error {worst:E3}");
    }

    /// <summary>
    /// Softmax character models (metadata output_activation "softmax", vocab; one-hot inputs): predict prints the
    /// probabilities PyTorch's reference module gives (apply_output), within 1e-5; int8 prints a distribution close to them.
    /// </summary>
    [Theory]
    [InlineData("char_lstm_l2")]
    [InlineData("char_gru_l1")]
    [InlineData("char_rnn_tanh_l2")]
    public void Predict_prints_softmax_probabilities_as_pytorch_does(string name)
    {
        string model = Path.Combine(fx.Dir, "predict", name + ".safetensors");
        string input = Path.Combine(fx.Dir, "predict", name + ".in.csv");
        var want = ReadCsv(Path.Combine(fx.Dir, "predict", name + ".expected.csv"));
        Assert.Equal(200, want.Count);
        foreach (string precision in new[] { "float32", "int8" })
        {
            string output = Path.Combine(fx.Dir, "predict", $"{name}.{precision}.out.csv");
            Assert.Equal(0, PredictCommand.Run(["--model", model, "--input", input, "--output", output, "--precision", precision]));
            var got = ReadCsv(output);
            Assert.Equal(want.Count, got.Count);
            double worst = 0, tiny = 1;
            for (int t = 0; t < want.Count; t++)
            {
                Assert.Equal(1.0, got[t].Sum(), 1e-5);
                for (int j = 0; j < want[t].Length; j++)
                {
                    worst = Math.Max(worst, Math.Abs(got[t][j] - want[t][j]));
                    tiny = Math.Min(tiny, want[t][j]);
                }
            }
            log.WriteLine($"{name} {precision}: worst |p - p_torch| = {worst:E3} (smallest probability {tiny:E2})");
            Assert.True(worst <= (precision == "float32" ? 1e-5 : 0.05), $"{name} {precision}: worst {worst:E3}");
        }
    }

    private string WriteInput(string text)
    {
        string path = Path.Combine(fx.Dir, Guid.NewGuid().ToString("N") + ".csv");
        File.WriteAllText(path, text);
        return path;
    }

    private string RunExpectingError(string csv)
    {
        string model = Path.Combine(fx.Dir, "predict", "gru_l2.safetensors");
        string output = Path.Combine(fx.Dir, Guid.NewGuid().ToString("N") + ".out.csv");
        var e = Assert.Throws<InvalidDataException>(() => PredictCommand.Run(["--model", model, "--input", WriteInput(csv), "--output", output]));
        Assert.False(File.Exists(output), "a failed predict must not leave an output file");
        return e.Message;
    }

    [Fact]
    public void Bad_number_names_line_and_column()
    {
        string msg = RunExpectingError("a,b,c\n1,2,3\n4,5,6\n7,oops,9\n");
        Assert.Contains(".csv:4: column 2 (b)", msg);
        Assert.Contains("oops", msg);
    }

    [Fact]
    public void Non_finite_value_is_refused() => Assert.Contains(".csv:2: column 3 (c)", RunExpectingError("a,b,c\n1,2,NaN\n"));

    [Fact]
    public void Short_row_names_line() => Assert.Contains(".csv:3: 2 fields, the header has 3", RunExpectingError("a,b,c\n1,2,3\n1,2\n"));

    [Fact]
    public void Long_row_names_line() => Assert.Contains(".csv:2: 4 fields, the header has 3", RunExpectingError("a,b,c\n1,2,3,4\n"));

    [Fact]
    public void Header_width_must_match_the_model() => Assert.Contains(".csv:1: header has 2 columns", RunExpectingError("a,b\n1,2\n"));

    [Fact]
    public void Empty_file_is_refused() => Assert.Contains(".csv: empty file", RunExpectingError(""));

    [Fact]
    public void Comment_lines_are_skipped_and_a_bad_row_after_them_names_its_physical_line() =>
        Assert.Contains(".csv:5: column 1 (a)", RunExpectingError("# exported by a logger\na,b,c\n1,2,3\n# note\nx,2,3\n"));

    [Fact]
    public void Blank_lines_are_skipped_and_state_starts_at_zero()
    {
        string model = Path.Combine(fx.Dir, "predict", "lstm_l1.safetensors");
        string output = Path.Combine(fx.Dir, Guid.NewGuid().ToString("N") + ".out.csv");
        Assert.Equal(0, PredictCommand.Run(["--model", model, "--input", WriteInput("a,b,c\r\n0.5,1,2\r\n\r\n0.5,1,2\r\n"), "--output", output]));
        var rows = ReadCsv(output);
        Assert.Equal(2, rows.Count);
        // The same forecaster from zero state gives row 1; a different second row proves the state is carried.
        var f = new FloatForecaster(ModelFile.Load(model));
        var y = new float[2];
        f.Step([0.5f, 1f, 2f], y);
        Assert.Equal(y, rows[0]);
        f.Step([0.5f, 1f, 2f], y);
        Assert.Equal(y, rows[1]);
        Assert.NotEqual(rows[0], rows[1]);
    }

    [Fact]
    public void Bad_flags_are_usage_errors()
    {
        string model = Path.Combine(fx.Dir, "predict", "lstm_l1.safetensors");
        string input = Path.Combine(fx.Dir, "predict", "lstm_l1.in.csv");
        string output = Path.Combine(fx.Dir, Guid.NewGuid().ToString("N") + ".csv");
        Assert.Contains("--precision", Assert.Throws<UsageException>(() => PredictCommand.Run(["--model", model, "--input", input, "--output", output, "--precision", "float16"])).Message);
        Assert.Contains("--inptu", Assert.Throws<UsageException>(() => PredictCommand.Run(["--model", model, "--inptu", input, "--output", output])).Message);
        Assert.Contains("--output", Assert.Throws<UsageException>(() => PredictCommand.Run(["--model", model, "--input", input])).Message);
    }

    [Fact]
    public void Missing_model_file_names_it()
    {
        string input = Path.Combine(fx.Dir, "predict", "lstm_l1.in.csv");
        string missing = Path.Combine(fx.Dir, "nope.safetensors");
        var e = Assert.ThrowsAny<IOException>(() => PredictCommand.Run(["--model", missing, "--input", input, "--output", Path.Combine(fx.Dir, "x.csv")]));
        Assert.Contains(missing, e.Message);
    }
}
