using System.Globalization;
using System.Text.RegularExpressions;
using EdgeRnn.Cli.Commands;
using Xunit.Abstractions;

namespace EdgeRnn.Cli.Tests;

public sealed class DetectTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-detect-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private static string NabFile(string rel) => Path.Combine(Repo.Root, "tests", "data", "nab", "data", rel);

    private static string[][] ReadRows(string path) =>
        File.ReadAllLines(path).Skip(1).Select(l => l.Split(',')).ToArray();

    [Fact]
    public void Writes_timestamp_value_score_per_row()
    {
        string input = NabFile("realAdExchange/exchange-3_cpc_results.csv");
        string output = Path.Combine(_dir, "out.csv");
        Assert.Equal(0, DetectCommand.Run(["--data", input, "--output", output]));
        string[] lines = File.ReadAllLines(output);
        string[] inLines = File.ReadAllLines(input);
        Assert.Equal("timestamp,value,anomaly_score", lines[0]);
        Assert.Equal(inLines.Length, lines.Length);
        Assert.Equal(inLines[1].Split(',')[0], lines[1].Split(',')[0]);
        double[] scores = lines.Skip(1).Select(l => double.Parse(l.Split(',')[2], CultureInfo.InvariantCulture)).ToArray();
        int probation = DetectCommand.NabProbation(scores.Length);
        Assert.All(scores.Take(probation), s => Assert.Equal(0.0, s));
        Assert.All(scores, s => Assert.InRange(s, 0.0, 1.0));
        Assert.Contains(scores.Skip(probation), s => s > 0.5);
    }

    [Fact]
    public void Scores_of_a_truncated_file_equal_the_full_files_rows()
    {
        string input = NabFile("realTraffic/speed_7578.csv");
        string[] all = File.ReadAllLines(input);
        string cut = Path.Combine(_dir, "cut.csv");
        File.WriteAllLines(cut, all.Take(700));
        string fullOut = Path.Combine(_dir, "full.csv"), cutOut = Path.Combine(_dir, "cutout.csv");
        // a fixed warm-up: the default (NAB's probationary period) is 15% of the file's length, as NAB gives its detectors
        Assert.Equal(0, DetectCommand.Run(["--data", input, "--output", fullOut, "--warmup", "150"]));
        Assert.Equal(0, DetectCommand.Run(["--data", cut, "--output", cutOut, "--warmup", "150"]));
        string[][] full = ReadRows(fullOut), part = ReadRows(cutOut);
        Assert.Equal(699, part.Length);
        for (int i = 0; i < part.Length; i++) Assert.Equal(full[i], part[i]);
        Assert.Contains(part, r => double.Parse(r[2], CultureInfo.InvariantCulture) > 0);
    }

    [Fact]
    public void Unreadable_row_is_skipped_not_scored()
    {
        // the project's CSV policy (CsvFormat): a row with the wrong field count is reported (file:line) and skipped
        string input = Path.Combine(_dir, "bad.csv");
        File.WriteAllLines(input, ["timestamp,value", "2015-01-01 00:00:00,1", "2015-01-01 00:05:00,2,3", "2015-01-01 00:10:00,4"]);
        string output = Path.Combine(_dir, "o.csv");
        Assert.Equal(0, DetectCommand.Run(["--data", input, "--output", output, "--warmup", "0"]));
        string[][] rows = ReadRows(output);
        Assert.Equal(["2015-01-01 00:00:00", "2015-01-01 00:10:00"], rows.Select(r => r[0]));
    }

    [Fact]
    public void With_a_model_int8_and_float32_raise_the_same_alerts()
    {
        // The served forecast of the shipped machine-temperature model (a NAB series itself) as one more surprise channel.
        string input = Path.Combine(Repo.Root, "models", "data", "nab", "machine_temperature_system_failure.csv");
        string model = Path.Combine(Repo.Root, "models", "machine_temperature.safetensors");
        double[] Run(params string[] extra)
        {
            string output = Path.Combine(_dir, $"out{extra.Length}{string.Join("", extra).GetHashCode():x}.csv");
            Assert.Equal(0, DetectCommand.Run(["--data", input, "--output", output, .. extra]));
            return ReadRows(output).Select(r => double.Parse(r[2], CultureInfo.InvariantCulture)).ToArray();
        }
        double[] none = Run(), int8 = Run("--model", model, "--precision", "int8"), f32 = Run("--model", model, "--precision", "float32");
        Assert.Equal(none.Length, int8.Length);
        Assert.All(int8, s => Assert.InRange(s, 0.0, 1.0));
        Assert.NotEqual(none, int8); // the model's channel is used
        int[] Alerts(double[] s) => Enumerable.Range(0, s.Length).Where(i => s[i] >= 0.99).ToArray();
        Assert.Equal(Alerts(f32), Alerts(int8));
        Assert.NotEmpty(Alerts(int8));
    }

    [Fact]
    public void Nab_runner_scores_a_few_files_with_the_official_scorer()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "edgernn.dll");
        string work = Path.Combine(_dir, "nab");
        var r = Repo.Run("/usr/bin/python3",
            [Path.Combine(Repo.Root, "tools", "nab", "run_nab.py"), "--nab", Path.Combine(Repo.Root, "tests", "data", "nab"),
             "--edgernn", $"dotnet \"{dll}\"", "--work", work],
            TimeSpan.FromMinutes(4));
        log.WriteLine(r.ToString());
        Assert.True(r.ExitCode == 0, r.ToString());
        var scores = new Dictionary<string, double>();
        foreach (Match m in Regex.Matches(r.Stdout, @"^(\w+)\s+score\s+(-?[\d.]+)\s+threshold\s+([\d.]+)", RegexOptions.Multiline))
            scores[m.Groups[1].Value] = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        Assert.Equal(3, scores.Count);
        Assert.Contains("NAB on 3 files", r.Stdout);
        // the null detector scores 0 and a perfect one 100; these three files have clear anomalies
        Assert.True(scores["standard"] > 50, $"standard {scores["standard"]}");
        Assert.True(File.Exists(Path.Combine(work, "results", "edgernn", "edgernn_standard_scores.csv")));
    }
}
