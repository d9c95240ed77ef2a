using System.Globalization;
using System.Text.Json;
using EdgeRnn.Forecasting.Baselines;
using EdgeRnn.Model;

namespace EdgeRnn.Forecasting;

/// <summary>What a network-only file's outputs are, when its metadata does not say (the `--targets` / `--features` flags
/// of `forecast` and `run`, the Targets / Features settings of the daemon).</summary>
public sealed record NetworkOnlyInfo(string[]? Targets, string[]? Features)
{
    /// <summary>Comma-separated names ("a,b"); null when neither is given. The one reader for flags and configuration.</summary>
    public static NetworkOnlyInfo? Parse(string? targets, string? features, string targetsKey = "--targets", string featuresKey = "--features")
    {
        static string[]? Split(string? v) => v?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        string[]? t = Split(targets), f = Split(features);
        if (t is { Length: 0 }) throw new FormatException($"{targetsKey} needs at least one name");
        if (f is { Length: 0 }) throw new FormatException($"{featuresKey} needs at least one name");
        return t is null && f is null ? null : new NetworkOnlyInfo(t, f);
    }
}

/// <summary>
/// The EdgeRnn forecaster file (docs/model-format.md), read and written in one place.
/// v2 ("format": "edgernn-forecaster/2"): every number is a tensor (scaler.mean, scaler.std, scaler.diff_std, skip.weight
/// [H, L], skip.bias [H], rnn.*, head.*); metadata holds descriptions only (format, arch, features, targets, horizon,
/// period_seconds, input_transform, skip, name, version and free keys).
/// v1 (today's bundled files before v2): the network with edgernn.* JSON metadata; read, never written.
/// Network-only (the shared reference format: rnn.*, head.*, arch and optional input/output normalization): served as is,
/// its targets and features taken from its metadata or from <see cref="NetworkOnlyInfo"/>.
/// Every number and array is range- and length-checked here, so `run --validate` refuses what `run` cannot serve; each
/// error is an <see cref="InvalidDataException"/> naming the file and the key.
/// </summary>
public static class ForecasterFile
{
    public const string Format = ModelFile.ForecasterFormat;
    /// <summary>Largest accepted horizon and sample period (a year of seconds): beyond them a file is corrupt, not ambitious.</summary>
    public const int MaxHorizon = 100_000;
    public const double MaxPeriodSeconds = 366 * 86400.0;
    public const float FeatureClamp = 8f;

    /// <summary>Metadata keys the parts define (written from the model, never copied from the free keys).</summary>
    private static readonly string[] DescriptionKeys =
        ["format", "arch", "features", "targets", "horizon", "period_seconds", "input_transform", "skip"];
    private static readonly string[] V1Keys =
        ["output_layout", "edgernn.input_transform", "edgernn.channel_mean", "edgernn.channel_std", "edgernn.diff_std",
         "edgernn.skip.kind", "edgernn.skip.lookback", "edgernn.skip.weight", "edgernn.skip.bias"];

    public static HybridModel Load(string path, NetworkOnlyInfo? networkOnly = null) => FromBytes(SafeTensors.ReadAllBytes(path), path, networkOnly);

    public static HybridModel FromBytes(ReadOnlySpan<byte> file, string name, NetworkOnlyInfo? networkOnly = null)
    {
        var (tensors, metadata) = SafeTensors.Read(file, name);
        InvalidDataException Bad(string problem) => new($"{name}: not a valid EdgeRnn model: {problem}");
        if (metadata.TryGetValue("format", out string? format))
        {
            if (format != Format) throw Bad($"metadata 'format' is '{format}', this build reads '{Format}' (and v1 and network-only files)");
            return ReadV2(tensors, metadata, name, Bad);
        }
        if (metadata.ContainsKey("edgernn.input_transform") || metadata.ContainsKey("edgernn.skip.kind")) return ReadV1(tensors, metadata, name, Bad);
        return ReadNetworkOnly(tensors, metadata, name, networkOnly, Bad);
    }

    private static HybridModel ReadV2(List<SafeTensor> tensors, Dictionary<string, string> metadata, string name, Func<string, InvalidDataException> bad)
    {
        foreach (string k in ModelFile.NormalizationKeys)
            if (metadata.ContainsKey(k)) throw bad($"metadata '{k}': a v2 file keeps every number in a tensor (scaler.*), not in metadata");
        var byName = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        var netTensors = new List<SafeTensor>();
        foreach (var t in tensors)
        {
            if (t.Name.StartsWith("rnn.", StringComparison.Ordinal) || t.Name.StartsWith("head.", StringComparison.Ordinal)) netTensors.Add(t);
            else byName[t.Name] = t;
        }
        var net = ModelFile.FromTensors(netTensors, metadata, name);
        int inputs = net.Shape.InputSize;
        var (features, targets, horizon, period) = Describe(metadata, net, bad);
        var transform = Transform(metadata.GetValueOrDefault("input_transform"), "input_transform", bad);

        SafeTensor Need(string key) => byName.Remove(key, out var t) ? t : throw bad($"missing tensor '{key}'");
        float[] mean = Vector(Need("scaler.mean"), inputs, positive: false, bad);
        float[] std = Vector(Need("scaler.std"), inputs, positive: true, bad);
        float[]? diffStd = transform == InputTransform.Diff ? Vector(Need("scaler.diff_std"), inputs, positive: true, bad) : null;

        string skipKind = metadata.GetValueOrDefault("skip") ?? throw bad("metadata 'skip' is missing (nlinear, linear or none)");
        LinearSkip? skip = null;
        if (skipKind is "nlinear" or "linear")
        {
            var w = Need("skip.weight");
            if (w.Shape.Length != 2 || w.Shape[0] != horizon || w.Shape[1] < 1)
                throw bad($"tensor 'skip.weight' has shape [{string.Join(", ", w.Shape)}], expected [{horizon}, L] with lookback L >= 1");
            int lookback = w.Shape[1];
            skip = new LinearSkip(lookback, horizon, skipKind == "nlinear", Finite(w, bad), Vector(Need("skip.bias"), horizon, positive: false, bad));
        }
        else if (skipKind != "none") throw bad($"metadata 'skip' is '{skipKind}', expected nlinear, linear or none");
        if (byName.Count > 0) throw bad($"unexpected tensor '{byName.Keys.First()}' (skip is '{skipKind}', input_transform '{Name(transform)}')");

        foreach (string k in DescriptionKeys) net.Metadata.Remove(k);
        var scaler = new ChannelScaler(mean, std, diffStd, transform, targets.Length, FeatureClamp);
        return new HybridModel(net, skip, scaler, features, targets, horizon, period);
    }

    private static HybridModel ReadV1(List<SafeTensor> tensors, Dictionary<string, string> metadata, string name, Func<string, InvalidDataException> bad)
    {
        var net = ModelFile.FromTensors(tensors, metadata, name);
        int inputs = net.Shape.InputSize;
        var (features, targets, horizon, period) = Describe(metadata, net, bad);
        var transform = Transform(metadata.GetValueOrDefault("edgernn.input_transform"), "edgernn.input_transform", bad);
        float[] mean = JsonVector(metadata, "edgernn.channel_mean", inputs, positive: false, bad);
        float[] std = JsonVector(metadata, "edgernn.channel_std", inputs, positive: true, bad);
        float[] diffStd = JsonVector(metadata, "edgernn.diff_std", inputs, positive: true, bad);
        string kind = metadata.GetValueOrDefault("edgernn.skip.kind") ?? throw bad("metadata 'edgernn.skip.kind' is missing");
        LinearSkip? skip = null;
        if (kind is "nlinear" or "linear")
        {
            int lookback = Int(metadata, "edgernn.skip.lookback", 1, 1 << 20, bad);
            skip = new LinearSkip(lookback, horizon, kind == "nlinear",
                JsonVector(metadata, "edgernn.skip.weight", lookback * horizon, positive: false, bad),
                JsonVector(metadata, "edgernn.skip.bias", horizon, positive: false, bad));
        }
        else if (kind != "none") throw bad($"metadata 'edgernn.skip.kind' is '{kind}', expected nlinear, linear or none");
        // The v1 network carried the channel normalization as its own (so the stepper de-normalized for it); now the scaler owns it.
        net.InputMean = null; net.InputStd = null; net.OutputMean = null; net.OutputStd = null;
        foreach (string k in DescriptionKeys) net.Metadata.Remove(k);
        foreach (string k in V1Keys) net.Metadata.Remove(k);
        var scaler = new ChannelScaler(mean, std, diffStd, transform, targets.Length, FeatureClamp);
        return new HybridModel(net, skip, scaler, features, targets, horizon, period);
    }

    private static HybridModel ReadNetworkOnly(List<SafeTensor> tensors, Dictionary<string, string> metadata, string name, NetworkOnlyInfo? info, Func<string, InvalidDataException> bad)
    {
        var net = ModelFile.FromTensors(tensors, metadata, name);
        string[]? targets = info?.Targets ?? Names(metadata, "targets", bad);
        string[]? features = info?.Features ?? Names(metadata, "features", bad);
        if (targets is null)
            throw bad($"a network-only file (no 'format' key): say what its {net.Shape.OutputSize} outputs are with --targets NAME[,NAME...] (outputs are step-major [horizon, targets])");
        if (targets.Length == 0 || targets.Distinct().Count() != targets.Length) throw bad("targets must be distinct names");
        if (net.Shape.OutputSize % targets.Length != 0)
            throw bad($"the network emits {net.Shape.OutputSize} outputs, not a multiple of {targets.Length} targets ({string.Join(",", targets)})");
        if (features is null)
        {
            if (net.Shape.InputSize != targets.Length)
                throw bad($"the network takes {net.Shape.InputSize} inputs: name them with --features NAME[,NAME...]");
            features = targets;
        }
        if (features.Length != net.Shape.InputSize) throw bad($"{features.Length} features named, the network takes {net.Shape.InputSize} inputs");
        if (features.Distinct().Count() != features.Length) throw bad("features must be distinct names");
        Horizon(metadata, targets.Length, net.Shape.OutputSize, required: false, bad);
        var period = Period(metadata, bad);
        foreach (string k in DescriptionKeys) net.Metadata.Remove(k);
        return HybridModel.NetworkOnly(net, features, targets, period);
    }

    /// <summary>Writes a v2 file atomically. A network-only model is written back as the network file it came from.</summary>
    public static void Save(HybridModel model, string path) => AtomicFile.Write(path, s => Write(model, s));

    public static void Write(HybridModel model, Stream destination)
    {
        var net = model.Net;
        if (model.IsNetworkOnly) { ModelFile.Write(net, destination); return; }
        if (net.InputMean is not null || net.InputStd is not null || net.OutputMean is not null || net.OutputStd is not null)
            throw new InvalidOperationException("a v2 forecaster's network has no normalization of its own (the scaler owns it)");
        for (int i = 0; i < net.Arena.Length; i++)
            if (!float.IsFinite(net.Arena[i])) throw new InvalidOperationException($"refusing to save a model with a non-finite weight (arena element {i})");
        var sc = model.Scaler;
        var tensors = new List<SafeTensor>
        {
            new("scaler.mean", [sc.Channels], (float[])sc.Mean.Clone()),
            new("scaler.std", [sc.Channels], (float[])sc.Std.Clone()),
        };
        if (sc.DiffStd is { } d) tensors.Add(new("scaler.diff_std", [sc.Channels], (float[])d.Clone()));
        if (model.Skip is { } skip)
        {
            tensors.Add(new("skip.weight", [skip.Horizon, skip.Lookback], (float[])skip.Weight.Clone()));
            tensors.Add(new("skip.bias", [skip.Horizon], (float[])skip.Bias.Clone()));
        }
        foreach (var t in net.Tensors) tensors.Add(new SafeTensor(t.Name, t.Shape, net.Arena.AsSpan(t.Offset, t.Length).ToArray()));
        var ctx = ForecastJsonContext.Default;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in net.Metadata)
            if (Array.IndexOf(DescriptionKeys, kv.Key) < 0 && Array.IndexOf(V1Keys, kv.Key) < 0 && Array.IndexOf(ModelFile.NormalizationKeys, kv.Key) < 0)
                metadata[kv.Key] = kv.Value;
        metadata["format"] = Format;
        metadata["arch"] = net.Shape.Arch.ToSpecName();
        metadata["features"] = JsonSerializer.Serialize(model.Channels, ctx.StringArray);
        metadata["targets"] = JsonSerializer.Serialize(model.Targets, ctx.StringArray);
        metadata["horizon"] = model.Horizon.ToString(CultureInfo.InvariantCulture);
        if (model.SamplePeriod is { } p) metadata["period_seconds"] = p.TotalSeconds.ToString("R", CultureInfo.InvariantCulture);
        metadata["input_transform"] = Name(sc.Transform);
        metadata["skip"] = model.Skip is null ? "none" : model.Skip.Relative ? "nlinear" : "linear";
        SafeTensors.Write(destination, tensors, metadata);
    }

    public static byte[] ToBytes(HybridModel model)
    {
        var ms = new MemoryStream();
        Write(model, ms);
        return ms.ToArray();
    }

    private static string Name(InputTransform t) => t == InputTransform.Diff ? "diff" : "level";

    private static InputTransform Transform(string? text, string key, Func<string, InvalidDataException> bad) => text switch
    {
        "diff" => InputTransform.Diff,
        "level" => InputTransform.Level,
        null => throw bad($"metadata '{key}' is missing (level or diff)"),
        _ => throw bad($"metadata '{key}' is '{text}', expected level or diff"),
    };

    /// <summary>The descriptions a forecaster file (v2 or v1) must carry, checked against its network.</summary>
    private static (string[] Features, string[] Targets, int Horizon, TimeSpan? Period) Describe(Dictionary<string, string> metadata, ForecasterParameters net, Func<string, InvalidDataException> bad)
    {
        string[] features = Names(metadata, "features", bad) ?? throw bad("metadata 'features' is missing");
        string[] targets = Names(metadata, "targets", bad) ?? throw bad("metadata 'targets' is missing");
        if (features.Length != net.Shape.InputSize) throw bad($"metadata 'features' names {features.Length} channels, the network takes {net.Shape.InputSize}");
        CheckTargetsLeadFeatures(targets, features, bad);
        return (features, targets, Horizon(metadata, targets.Length, net.Shape.OutputSize, required: true, bad), Period(metadata, bad));
    }

    private static void CheckTargetsLeadFeatures(string[] targets, string[] features, Func<string, InvalidDataException> bad)
    {
        if (targets.Length == 0 || targets.Length > features.Length) throw bad($"metadata 'targets' names {targets.Length} channels, expected 1..{features.Length} (the first features)");
        for (int c = 0; c < targets.Length; c++)
            if (targets[c] != features[c]) throw bad($"metadata 'targets'[{c}] is '{targets[c]}' but features[{c}] is '{features[c]}': targets must be the first features");
        if (features.Distinct().Count() != features.Length) throw bad("metadata 'features' names a channel twice");
    }

    private static string[]? Names(Dictionary<string, string> metadata, string key, Func<string, InvalidDataException> bad)
    {
        if (!metadata.TryGetValue(key, out string? text)) return null;
        string[]? names;
        try { names = JsonSerializer.Deserialize(text, ForecastJsonContext.Default.StringArray); }
        catch (JsonException e) { throw bad($"metadata '{key}' is not a JSON array of names ({e.Message})"); }
        if (names is null || names.Length == 0) throw bad($"metadata '{key}' is empty");
        for (int i = 0; i < names.Length; i++)
            if (string.IsNullOrWhiteSpace(names[i])) throw bad($"metadata '{key}'[{i}] is an empty name");
        return names;
    }

    private static int Horizon(Dictionary<string, string> metadata, int targets, int outputs, bool required, Func<string, InvalidDataException> bad)
    {
        if (!metadata.ContainsKey("horizon"))
            return required ? throw bad("metadata 'horizon' is missing") : outputs / targets;
        int h = Int(metadata, "horizon", 1, MaxHorizon, bad);
        if ((long)h * targets != outputs) throw bad($"metadata 'horizon' is {h} but the network emits {outputs} outputs for {targets} target(s)");
        return h;
    }

    private static int Int(Dictionary<string, string> metadata, string key, int min, int max, Func<string, InvalidDataException> bad)
    {
        string text = metadata[key];
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
            throw bad($"metadata '{key}' is '{text}', expected a whole number in {min}..{max}");
        return v;
    }

    private static TimeSpan? Period(Dictionary<string, string> metadata, Func<string, InvalidDataException> bad)
    {
        if (!metadata.TryGetValue("period_seconds", out string? text)) return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) || !double.IsFinite(s) || !(s > 0) || s > MaxPeriodSeconds)
            throw bad($"metadata 'period_seconds' is '{text}', expected seconds in (0, {MaxPeriodSeconds.ToString(CultureInfo.InvariantCulture)}]");
        return TimeSpan.FromSeconds(s);
    }

    private static float[] Finite(SafeTensor t, Func<string, InvalidDataException> bad)
    {
        for (int i = 0; i < t.Data.Length; i++)
            if (!float.IsFinite(t.Data[i])) throw bad($"tensor '{t.Name}' holds a non-finite value at element {i}");
        return t.Data;
    }

    private static float[] Vector(SafeTensor t, int length, bool positive, Func<string, InvalidDataException> bad)
    {
        if (t.Shape.Length != 1 || t.Shape[0] != length) throw bad($"tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}], expected [{length}]");
        Finite(t, bad);
        if (positive)
            for (int i = 0; i < length; i++)
                if (!(t.Data[i] > 0)) throw bad($"tensor '{t.Name}' element {i} is {t.Data[i].ToString(CultureInfo.InvariantCulture)}, a standard deviation must be > 0");
        return t.Data;
    }

    private static float[] JsonVector(Dictionary<string, string> metadata, string key, int length, bool positive, Func<string, InvalidDataException> bad)
    {
        if (!metadata.TryGetValue(key, out string? text)) throw bad($"metadata '{key}' is missing");
        float[]? v;
        try { v = JsonSerializer.Deserialize(text, ForecastJsonContext.Default.SingleArray); }
        catch (JsonException e) { throw bad($"metadata '{key}' is not a JSON array of numbers ({e.Message})"); }
        if (v is null || v.Length != length) throw bad($"metadata '{key}' has {v?.Length ?? 0} values, expected {length}");
        return Vector(new SafeTensor(key, [length], v), length, positive, bad);
    }
}
