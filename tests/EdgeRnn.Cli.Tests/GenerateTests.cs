using EdgeRnn.Daemon;
using EdgeRnn.Cli;
using EdgeRnn.Cli.Commands;
using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;
using EdgeRnn.Model.Text;
using Xunit.Abstractions;

namespace EdgeRnn.Cli.Tests;

/// <summary>One tiny character model trained through `edgernn train --task next-char` (a few seconds), shared by the tests.</summary>
public sealed class TinyCharModel : IDisposable
{
    public string Dir { get; }
    public string Model { get; }
    public string Corpus { get; }

    public TinyCharModel()
    {
        Dir = Path.Combine(Path.GetTempPath(), "edgernn-char-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Dir);
        Corpus = Path.Combine(Dir, "corpus.txt");
        File.WriteAllText(Corpus, string.Concat(Enumerable.Repeat("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n", 40)));
        Model = Path.Combine(Dir, "tiny.safetensors");
        int rc = TrainCommand.Run(["--task", "next-char", "--data", Corpus, "--out", Model, "--hidden", "24", "--layers", "2",
            "--batch", "8", "--seq-length", "16", "--updates", "30", "--lr", "0.01", "--eval-every", "10", "--log-every", "10"]);
        if (rc != 0) throw new InvalidOperationException($"train --task next-char exited {rc}");
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

public sealed class GenerateTests(TinyCharModel fx, ITestOutputHelper log) : IClassFixture<TinyCharModel>
{
    private string Generate(string precision, ulong seed, string prime = "To ", int length = 300, double temperature = 0.8, int topK = 0)
    {
        var p = ModelFile.Load(fx.Model);
        var vocab = CharVocab.FromModel(p, fx.Model);
        var logits = p.Clone();
        logits.Metadata[OutputHead.ActivationKey] = "none";
        IForecaster f = precision == "int8" ? new Int8Forecaster(logits) : new FloatForecaster(logits);
        var w = new StringWriter();
        GenerateCommand.Generate(f, vocab, vocab.Encode(prime, "prime"), length, new TextSampler(vocab.Count, temperature, topK, seed), w);
        return w.ToString();
    }

    [Fact]
    public void Trained_file_carries_the_character_model_contract()
    {
        var p = ModelFile.Load(fx.Model);
        Assert.Equal(OutputActivation.Softmax, OutputHead.Activation(p));
        var vocab = CharVocab.FromModel(p, fx.Model);
        Assert.Equal(new ForecasterShape(RnnArch.Lstm, vocab.Count, 24, 2, vocab.Count), p.Shape);
        Assert.Equal(File.ReadAllText(fx.Corpus).Distinct().Order().Select(c => c.ToString()), vocab.Tokens); // ordinal order
        Assert.Equal("next-char", p.Metadata["task"]);
        double val = double.Parse(p.Metadata["val_loss_nats_per_char"], System.Globalization.CultureInfo.InvariantCulture);
        log.WriteLine($"tiny model validation loss {val:F4} nats/char (uniform {Math.Log(vocab.Count):F4})");
        Assert.True(val < Math.Log(vocab.Count) - 0.5, $"validation loss {val} is not below uniform");
    }

    [Theory]
    [InlineData("float32")]
    [InlineData("int8")]
    public void Same_seed_same_text_other_seed_other_text(string precision)
    {
        string a = Generate(precision, 5), b = Generate(precision, 5), c = Generate(precision, 6);
        log.WriteLine(a);
        Assert.Equal(300, a.Length);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        var vocab = CharVocab.FromModel(ModelFile.Load(fx.Model), fx.Model);
        Assert.All(a, ch => Assert.True(vocab.TryIndex(new System.Text.Rune(ch), out _)));
    }

    [Fact]
    public void Top_1_is_greedy_and_ignores_the_seed() => Assert.Equal(Generate("float32", 1, topK: 1), Generate("float32", 99, topK: 1));

    [Fact]
    public void Bad_flags_and_files_are_named()
    {
        Assert.Contains("--temperature", Assert.Throws<UsageException>(() => GenerateCommand.Run(["--model", fx.Model, "--temperature", "0"])).Message);
        Assert.Contains("--precision", Assert.Throws<UsageException>(() => GenerateCommand.Run(["--model", fx.Model, "--precision", "int4"])).Message);
        Assert.Contains("--seed", Assert.Throws<UsageException>(() => GenerateCommand.Run(["--model", fx.Model, "--seed", "-1"])).Message);
        Assert.Contains("--prime: line 1, column 2", Assert.Throws<InvalidDataException>(() => GenerateCommand.Run(["--model", fx.Model, "--prime", "T#"])).Message);
        Assert.Contains("--task", Assert.Throws<UsageException>(() => TrainCommand.Run(["--task", "next-word", "--data", fx.Corpus, "--out", "x"])).Message);
        // A forecaster file (no vocab) is not a character model.
        var f = new ForecasterParameters(new ForecasterShape(RnnArch.Gru, 3, 4, 1, 3));
        string path = Path.Combine(fx.Dir, "forecaster.safetensors");
        ModelFile.Save(f, path);
        Assert.Contains("no 'vocab'", Assert.Throws<InvalidDataException>(() => GenerateCommand.Run(["--model", path])).Message);
    }
}
