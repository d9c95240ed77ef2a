using System.Diagnostics;
using System.Globalization;
using System.Text;
using EdgeRnn.Model;
using EdgeRnn.Forecasting;
using EdgeRnn.Model.Text;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn generate --model M.safetensors [--prime TEXT] [--length 500] [--temperature 1] [--top-k 0] [--seed 1]
///   [--precision float32|int8]
/// Writes the prime, then --length characters sampled one at a time from a character model (metadata "vocab",
/// "output_activation": "softmax"), to stdout as they come. The same seed gives the same text: the sampler's random
/// numbers and exponentials are integer / plain double arithmetic (PCG32, <see cref="TextSampler"/>), so an int8 model
/// writes the same text on x64 and ARM64. Without --prime the model starts from a newline (or its first token).
/// </summary>
public static class GenerateCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, []);
        string modelPath = a.Require("model");
        string? prime = a.Get("prime");
        int length = a.GetInt("length", 500);
        double temperature = a.GetDouble("temperature", 1.0);
        int topK = a.GetInt("top-k", 0);
        string seedText = a.Get("seed") ?? "1";
        var precision = a.GetPrecision();
        a.RejectUnknown();
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");
        if (length < 0) throw new UsageException($"--length must be >= 0, got {length}");
        if (!(temperature > 0) || !double.IsFinite(temperature)) throw new UsageException($"--temperature must be > 0, got {temperature.ToString(CultureInfo.InvariantCulture)}");
        if (topK < 0) throw new UsageException($"--top-k must be >= 0 (0 = every token), got {topK}");
        if (!ulong.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed))
            throw new UsageException($"--seed expects a non-negative integer, got '{seedText}'");

        var p = ModelFile.Load(modelPath);
        var vocab = CharVocab.FromModel(p, modelPath);
        // The sampler takes logits (softmax(z / T)), so the forecaster here stops before the file's softmax.
        var logitModel = p.Clone();
        logitModel.Metadata[OutputHead.ActivationKey] = "none";
        IForecaster f = NetworkFactory.Create(logitModel, precision);
        int[] primeIds = prime is null
            ? [vocab.TryIndex(new Rune('\n'), out int nl) ? nl : 0]
            : vocab.Encode(prime, "--prime");
        if (primeIds.Length == 0) throw new UsageException("--prime is empty");

        var sampler = new TextSampler(vocab.Count, temperature, topK, seed);
        using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 12) { AutoFlush = false };
        if (prime is not null) stdout.Write(prime);
        var proc = Process.GetCurrentProcess();
        TimeSpan cpu0 = proc.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        Generate(f, vocab, primeIds, length, sampler, stdout);
        clock.Stop();
        proc.Refresh();
        double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds;
        stdout.Flush();
        int steps = primeIds.Length + length;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"edgernn generate: {length} characters ({steps} model steps, {precision.Name()}) in {clock.Elapsed.TotalSeconds:F3} s, {steps / Math.Max(1e-9, clock.Elapsed.TotalSeconds):F0} steps/s, {steps / Math.Max(1e-9, cpu):F0} per CPU-second"));
        return 0;
    }

    /// <summary>Feeds the prime, then writes length sampled tokens (flushing at each newline). f must output logits.</summary>
    public static void Generate(IForecaster f, CharVocab vocab, ReadOnlySpan<int> primeIds, int length, TextSampler sampler, TextWriter output)
    {
        int v = vocab.Count;
        var x = new float[v];
        var logits = new float[v];
        foreach (int id in primeIds) Feed(f, x, id, logits);
        for (int i = 0; i < length; i++)
        {
            int next = sampler.Sample(logits);
            string token = vocab.Tokens[next];
            output.Write(token);
            if (token == "\n") output.Flush();
            Feed(f, x, next, logits);
        }
    }

    private static void Feed(IForecaster f, float[] x, int id, float[] logits)
    {
        x[id] = 1f;
        f.Step(x, logits);
        x[id] = 0f;
    }
}
