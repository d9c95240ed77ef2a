using System.Globalization;
using System.Text;
using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;
using EdgeRnn.Model.Text;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn train --task next-char --data corpus.txt --out M.safetensors
///   [--arch lstm|gru|rnn_tanh|rnn_relu] [--hidden 128] [--layers 2] [--batch 32] [--seq-length 64] [--updates 2000]
///   [--lr 0.002] [--clip 5] [--seed 1] [--eval-every 250] [--log-every 50] [--name N]
/// A character-level language model: one-hot inputs over the text's characters (metadata "vocab"), softmax outputs
/// (metadata "output_activation": "softmax"), cross-entropy; the last 10% of the text is validation. Progress lines
/// (train and validation loss in nats per character) go to stderr. Deterministic for a seed on one machine.
/// </summary>
public static class NextCharTrainCommand
{
    public static int Run(Args a)
    {
        string data = a.Require("input"), outPath = a.Require("output");
        var d = new CharTrainOptions();
        var o = d with
        {
            Arch = TrainCommand.ParseArch(a, d.Arch, allowRelu: true),
            Hidden = a.GetInt("hidden", d.Hidden),
            Layers = a.GetInt("layers", d.Layers),
            Batch = a.GetInt("batch", d.Batch),
            SeqLength = a.GetInt("seq-length", d.SeqLength),
            Updates = a.GetInt("updates", d.Updates),
            LearningRate = a.GetDouble("lr", d.LearningRate),
            ClipNorm = a.GetDouble("clip", d.ClipNorm),
            Seed = a.GetInt("seed", d.Seed),
            EvalEvery = a.GetInt("eval-every", d.EvalEvery),
            LogEvery = a.GetInt("log-every", d.LogEvery),
        };
        string name = a.Get("name") ?? Path.GetFileNameWithoutExtension(outPath);
        a.RejectUnknown();
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");
        try { o.Validate(); }
        catch (ArgumentOutOfRangeException e) { throw new UsageException(e.Message.Split('\n')[0].Split(" (Parameter")[0]); }

        if (!File.Exists(data)) throw new FileNotFoundException($"{data}: no such file", data);
        string text = File.ReadAllText(data, new UTF8Encoding(false, throwOnInvalidBytes: true));
        var vocab = CharVocab.FromText(text);
        int[] ids = vocab.Encode(text, data);
        var (train, val) = CharTrainer.Split(ids);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{data}: {ids.Length} characters, vocab {vocab.Count}; train {train.Length}, validation (last 10%) {val.Length}; {o.Layers} x {o.Arch.ToSpecName()} {o.Hidden}, batch {o.Batch} x {o.SeqLength} chars, {o.Updates} updates, Adam lr {o.LearningRate}, clip {o.ClipNorm}"));
        var p = CharTrainer.NewModel(vocab, o);
        CharTrainReport rep;
        try { rep = CharTrainer.Train(p, train, val, o, Console.Error); }
        catch (ArgumentException e) { throw new UsageException($"{data}: {e.Message}"); }

        // The deployed forms, stepped one character at a time over the whole validation text from zero state.
        double lossF = CharTrainer.StreamingLoss(new FloatForecaster(p), val);
        double lossQ = CharTrainer.StreamingLoss(new Int8Forecaster(p), val);
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        foreach (var kv in new Dictionary<string, string>
        {
            ["name"] = name,
            ["trained_on"] = Path.GetFileName(data),
            ["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture),
            ["updates"] = o.Updates.ToString(CultureInfo.InvariantCulture),
            ["batch"] = o.Batch.ToString(CultureInfo.InvariantCulture),
            ["seq_length"] = o.SeqLength.ToString(CultureInfo.InvariantCulture),
            ["lr"] = F(o.LearningRate),
            ["val_loss_nats_per_char"] = F(rep.ValLoss),
            ["train_seconds"] = rep.Seconds.ToString("F1", CultureInfo.InvariantCulture),
            ["train_cpu_seconds"] = rep.CpuSeconds.ToString("F1", CultureInfo.InvariantCulture),
            ["val_loss_streaming_float32"] = F(lossF),
            ["val_loss_streaming_int8"] = F(lossQ),
        }) p.Metadata[kv.Key] = kv.Value;
        ModelFile.Save(p, outPath);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {outPath}: {rep.Updates} updates in {rep.Seconds:F1} s ({rep.CharsPerSecond:F0} chars/s; {rep.CpuSeconds:F1} CPU-s, {rep.CharsPerCpuSecond:F0} chars per CPU-second), train {rep.TrainLoss:F4}, val {rep.ValLoss:F4} nats/char over {rep.ValChars} chars; streaming val float32 {lossF:F4}, int8 {lossQ:F4} (int8 {100 * (lossQ - lossF) / lossF:F3}% from float32){(rep.RejectedSteps > 0 ? $", {rep.RejectedSteps} non-finite steps skipped" : "")}"));
        return 0;
    }
}
