using System.Globalization;
using System.Text.Json;
using EdgeRnn.Forecasting.Baselines;
using EdgeRnn.Model;

namespace EdgeRnn.Forecasting;

/// <summary>What the recurrent network is fed per input channel.</summary>
public enum InputTransform
{
    /// <summary>The z-scored value: sees levels, so a level never seen in training is out of distribution.</summary>
    Level,
    /// <summary>The first difference x[t] - x[t-1] (scaled): level-free, the default.</summary>
    Diff,
}

/// <summary>
/// An EdgeRnn forecasting model: a linear skip path over the last L values of each target (NLinear: last-value relative)
/// plus a recurrent network whose head emits a correction for the next H values of every target.
///   forecast[k, c] = skip(x_c[t-L+1..t])[k] + net(features[..t])[k*C + c]        (raw units)
/// The network part is a plain reference-forecaster file (strict state_dict; output_mean = 0 and output_std = the target
/// std, so `edgernn predict` on it prints the correction in raw units); the skip path and the input transform travel in
/// free metadata keys (edgernn.skip.*, edgernn.input_transform), so the contract still holds.
/// </summary>
public sealed class HybridModel
{
    public ForecasterParameters Net { get; }
    public LinearSkip? Skip { get; }
    /// <summary>Input channel names (targets first, then extra features).</summary>
    public string[] Channels { get; }
    public string[] Targets { get; }
    public int Horizon { get; }
    public InputTransform Transform { get; }
    /// <summary>Raw z-score of each input channel (fitted on training rows only).</summary>
    public float[] ChannelMean { get; }
    public float[] ChannelStd { get; }
    /// <summary>Raw std of each channel's first difference (the Diff transform's scale).</summary>
    public float[] DiffStd { get; }
    public TimeSpan? SamplePeriod { get; }

    public HybridModel(ForecasterParameters net, LinearSkip? skip, string[] channels, string[] targets, int horizon,
        InputTransform transform, float[] channelMean, float[] channelStd, float[] diffStd, TimeSpan? samplePeriod)
    {
        Net = net; Skip = skip; Channels = channels; Targets = targets; Horizon = horizon; Transform = transform;
        ChannelMean = channelMean; ChannelStd = channelStd; DiffStd = diffStd; SamplePeriod = samplePeriod;
        if (net.Shape.InputSize != channels.Length) throw new ArgumentException("network input size must equal the channel count");
        if (net.Shape.OutputSize != horizon * targets.Length) throw new ArgumentException("network output size must be horizon × targets");
        for (int c = 0; c < targets.Length; c++)
            if (channels[c] != targets[c]) throw new ArgumentException("targets must be the first input channels");
        // The network's own normalization keys say exactly what it sees.
        net.InputMean = transform == InputTransform.Level ? (float[])channelMean.Clone() : new float[channels.Length];
        net.InputStd = transform == InputTransform.Level ? (float[])channelStd.Clone() : (float[])diffStd.Clone();
        net.OutputMean = new float[net.Shape.OutputSize];
        net.OutputStd = new float[net.Shape.OutputSize];
        for (int k = 0; k < horizon; k++) for (int c = 0; c < targets.Length; c++) net.OutputStd[k * targets.Length + c] = channelStd[c];
    }

    public int TargetCount => Targets.Length;

    /// <summary>Writes every free key this model needs into the network's metadata (name, version, horizon, ...).</summary>
    public void WriteMetadata(string name, string version, IDictionary<string, string>? extra = null)
    {
        var m = Net.Metadata;
        var ctx = ForecastJsonContext.Default;
        m["name"] = name;
        m["version"] = version;
        m["horizon"] = Horizon.ToString(CultureInfo.InvariantCulture);
        m["targets"] = JsonSerializer.Serialize(Targets, ctx.StringArray);
        m["features"] = JsonSerializer.Serialize(Channels, ctx.StringArray);
        m["output_layout"] = "step-major [horizon, targets]";
        m["edgernn.input_transform"] = Transform == InputTransform.Diff ? "diff" : "level";
        m["edgernn.channel_mean"] = JsonSerializer.Serialize(ChannelMean, ctx.SingleArray);
        m["edgernn.channel_std"] = JsonSerializer.Serialize(ChannelStd, ctx.SingleArray);
        m["edgernn.diff_std"] = JsonSerializer.Serialize(DiffStd, ctx.SingleArray);
        if (SamplePeriod is { } p) m["period_seconds"] = p.TotalSeconds.ToString(CultureInfo.InvariantCulture);
        if (Skip is { } s)
        {
            m["edgernn.skip.kind"] = s.Relative ? "nlinear" : "linear";
            m["edgernn.skip.lookback"] = s.Lookback.ToString(CultureInfo.InvariantCulture);
            m["edgernn.skip.weight"] = JsonSerializer.Serialize(s.Weight, ctx.SingleArray);
            m["edgernn.skip.bias"] = JsonSerializer.Serialize(s.Bias, ctx.SingleArray);
        }
        else m["edgernn.skip.kind"] = "none";
        if (extra is not null) foreach (var kv in extra) m[kv.Key] = kv.Value;
    }

    public void Save(string path) => ModelFile.Save(Net, path);

    public static HybridModel Load(string path)
    {
        var p = ModelFile.Load(path);
        try { return FromParameters(p); }
        catch (Exception e) when (e is KeyNotFoundException or JsonException or FormatException)
        { throw new InvalidDataException($"{path}: not an EdgeRnn forecasting model ({e.Message})", e); }
    }

    public static HybridModel FromParameters(ForecasterParameters p)
    {
        var m = p.Metadata;
        var ctx = ForecastJsonContext.Default;
        string Need(string k) => m.TryGetValue(k, out string? v) ? v : throw new KeyNotFoundException($"metadata key '{k}' missing");
        string[] targets = JsonSerializer.Deserialize(Need("targets"), ctx.StringArray)!;
        string[] channels = JsonSerializer.Deserialize(Need("features"), ctx.StringArray)!;
        int horizon = int.Parse(Need("horizon"), CultureInfo.InvariantCulture);
        var transform = Need("edgernn.input_transform") == "diff" ? InputTransform.Diff : InputTransform.Level;
        float[] mean = JsonSerializer.Deserialize(Need("edgernn.channel_mean"), ctx.SingleArray)!;
        float[] std = JsonSerializer.Deserialize(Need("edgernn.channel_std"), ctx.SingleArray)!;
        float[] dstd = JsonSerializer.Deserialize(Need("edgernn.diff_std"), ctx.SingleArray)!;
        TimeSpan? period = m.TryGetValue("period_seconds", out string? ps) ? TimeSpan.FromSeconds(double.Parse(ps, CultureInfo.InvariantCulture)) : null;
        LinearSkip? skip = null;
        string kind = Need("edgernn.skip.kind");
        if (kind != "none")
        {
            int l = int.Parse(Need("edgernn.skip.lookback"), CultureInfo.InvariantCulture);
            skip = new LinearSkip(l, horizon, kind == "nlinear",
                JsonSerializer.Deserialize(Need("edgernn.skip.weight"), ctx.SingleArray)!,
                JsonSerializer.Deserialize(Need("edgernn.skip.bias"), ctx.SingleArray)!);
        }
        return new HybridModel(p, skip, channels, targets, horizon, transform, mean, std, dstd, period);
    }
}

/// <summary>
/// Runs a <see cref="HybridModel"/> over a stream, one sample at a time, allocation-free: gap-fills inputs, builds the
/// network's features, steps the (float or int8) network, adds the skip path. Also exposes the normalized pieces the
/// online learner stores (features, skip forecast), so training and inference share one path.
/// </summary>
public sealed class HybridStepper
{
    public HybridModel Model { get; }
    private IForecaster _net;
    private readonly IForecaster? _shadow; // the shipped network, frozen, stepped on the same inputs (the fine-tuning guard's reference)
    private readonly int _c, _h, _l, _in;
    private readonly float[] _ring;      // [L, C] normalized filled target history, circular
    private readonly float[] _last;      // [channels] raw last observed (filled) values
    private readonly float[] _netIn, _netOut, _shadowOut, _window, _skipOut;
    private readonly float[] _features;  // [channels] what the network saw (normalized), for the learner
    private readonly float[] _skipNorm;  // [H*C] skip forecast, normalized
    private readonly double[] _power;    // [channels] running mean square of each normalized input (1 = as in training)
    private readonly float[] _scale;     // [channels] drift scale of each input (≥ 1)
    private long _count;
    public float FeatureClamp { get; set; } = 8f;
    /// <summary>The drift scale engages once an input's running RMS exceeds this many trained standard deviations.</summary>
    public float DriftThreshold { get; set; } = 2f;
    /// <summary>Time constant (rows) of the running mean square behind the drift scale.</summary>
    public int DriftMemory { get; set; } = 256;

    public HybridStepper(HybridModel model, IForecaster net, IForecaster? shadow = null)
    {
        Model = model; _net = net; _shadow = shadow;
        _c = model.TargetCount; _h = model.Horizon; _in = model.Channels.Length;
        _l = model.Skip?.Lookback ?? 1;
        _ring = new float[_l * _c];
        _last = new float[_in];
        for (int i = 0; i < _in; i++) _last[i] = model.ChannelMean[i];
        _netIn = new float[_in]; _netOut = new float[_h * _c]; _shadowOut = new float[shadow is null ? 0 : _h * _c]; _window = new float[_l]; _skipOut = new float[_h];
        _features = new float[_in]; _skipNorm = new float[_h * _c];
        _power = new double[_in]; Array.Fill(_power, 1.0);
        _scale = new float[_in]; Array.Fill(_scale, 1f);
    }

    public IForecaster Network => _net;
    public long Count => _count;
    /// <summary>Warm once the skip path's lookback is full.</summary>
    public bool Ready => _count >= _l;
    public ReadOnlySpan<float> Features => _features;
    public ReadOnlySpan<float> SkipForecast => _skipNorm;
    /// <summary>[C] the drift scale of each target at the last step: the network's output correction was multiplied by it.</summary>
    public ReadOnlySpan<float> OutputScale => _scale.AsSpan(0, _c);
    /// <summary>[H·C] raw correction of the network at the last step.</summary>
    public ReadOnlySpan<float> NetOutput => _netOut;
    /// <summary>[H·C] raw correction of the frozen shadow network at the last step (empty without one).</summary>
    public ReadOnlySpan<float> ShadowOutput => _shadowOut;
    public IForecaster? Shadow => _shadow;

    /// <summary>Swaps in another network (e.g. a re-quantized copy) carrying the recurrent state over. The state buffer is the caller's.</summary>
    public void SwapNetwork(IForecaster next, Span<float> stateScratch)
    {
        _net.GetState(stateScratch);
        next.SetState(stateScratch);
        _net = next;
    }

    /// <summary>
    /// sample: [channels] raw, NaN = missing; forecast: [H, C] raw. Returns <see cref="Ready"/>.
    /// The one place that scales the network's inputs and outputs. Each input is z-scored with its training statistics
    /// (differences are level-free; levels use the training mean) and then divided by a drift scale s ≥ 1: s = RMS / threshold
    /// once the input's running RMS (in trained standard deviations) exceeds the threshold, else 1. So a stream whose variance
    /// grew k-fold feeds the network inputs of the size it was trained on (RevIN-style, tracked online), and the network's
    /// output correction for a target is multiplied back by that target's s. Inside the trained range s = 1 exactly: the
    /// network sees what it was trained on. A final clamp bounds what one wild sample can do.
    /// </summary>
    public bool Step(ReadOnlySpan<float> sample, Span<float> forecast)
    {
        var m = Model;
        double keep = 1.0 - 1.0 / Math.Max(DriftMemory, 1);
        for (int i = 0; i < _in; i++)
        {
            float v = sample[i];
            if (!float.IsFinite(v)) v = _last[i]; // gap policy: carry the last observation forward
            float f = m.Transform == InputTransform.Diff
                ? (_count == 0 ? 0f : v - _last[i])
                : v;
            // Clamp in normalized units so one wild sample cannot drive the state far from anything trained on.
            float mean = m.Net.InputMean![i], std = m.Net.InputStd![i];
            float z0 = (f - mean) / std;
            if (float.IsFinite(z0) && _count > 0) _power[i] = keep * _power[i] + (1 - keep) * Math.Min((double)z0 * z0, 1e6);
            float rms = (float)Math.Sqrt(_power[i]);
            _scale[i] = rms > DriftThreshold ? rms / DriftThreshold : 1f;
            float z = Math.Clamp(z0 / _scale[i], -FeatureClamp, FeatureClamp);
            _features[i] = z;
            _netIn[i] = z * std + mean;
            _last[i] = v;
        }
        _net.Step(_netIn, _netOut);
        _shadow?.Step(_netIn, _shadowOut);
        for (int k = 0; k < _h; k++)
            for (int c = 0; c < _c; c++)
            {
                _netOut[k * _c + c] *= _scale[c];
                if (_shadowOut.Length > 0) _shadowOut[k * _c + c] *= _scale[c];
            }
        int slot = (int)(_count % _l);
        for (int c = 0; c < _c; c++) _ring[slot * _c + c] = (_last[c] - m.ChannelMean[c]) / m.ChannelStd[c];
        _count++;
        for (int c = 0; c < _c; c++)
        {
            if (m.Skip is { } skip)
            {
                // Oldest first; before the lookback is full, pad with the oldest value seen.
                for (int j = 0; j < _l; j++)
                {
                    long age = _l - 1 - j; // 0 = newest
                    long idx = Math.Max(_count - 1 - age, 0);
                    _window[j] = _ring[(int)(idx % _l) * _c + c];
                }
                skip.Predict(_window, _skipOut);
            }
            else _skipOut.AsSpan().Clear();
            float mean = m.ChannelMean[c], std = m.ChannelStd[c];
            for (int k = 0; k < _h; k++)
            {
                _skipNorm[k * _c + c] = _skipOut[k];
                forecast[k * _c + c] = mean + std * _skipOut[k] + _netOut[k * _c + c];
            }
        }
        return Ready;
    }

    /// <summary>Everything needed to resume the stream exactly: [count, last values, lookback ring, network state].</summary>
    public float[] CaptureState()
    {
        var s = new float[2 + _last.Length + _ring.Length + _net.StateSize + _power.Length];
        // The count as two exact 24-bit halves (a float holds integers up to 2^24 exactly).
        s[0] = _count % (1 << 24); s[1] = _count >> 24;
        _last.CopyTo(s, 2);
        _ring.CopyTo(s, 2 + _last.Length);
        _net.GetState(s.AsSpan(2 + _last.Length + _ring.Length, _net.StateSize));
        for (int i = 0; i < _power.Length; i++) s[2 + _last.Length + _ring.Length + _net.StateSize + i] = (float)_power[i];
        return s;
    }

    public void RestoreState(ReadOnlySpan<float> s)
    {
        int core = 2 + _last.Length + _ring.Length + _net.StateSize;
        // Older checkpoints end before the drift statistics: they restart at the trained scale.
        if (s.Length != core && s.Length != core + _power.Length) throw new InvalidDataException("checkpoint stream state does not match this model");
        _count = (long)s[0] + ((long)s[1] << 24);
        s.Slice(2, _last.Length).CopyTo(_last);
        s.Slice(2 + _last.Length, _ring.Length).CopyTo(_ring);
        _net.SetState(s.Slice(2 + _last.Length + _ring.Length, _net.StateSize));
        for (int i = 0; i < _power.Length; i++)
        {
            double p = s.Length > core ? s[core + i] : 1.0;
            if (!(p >= 0 && double.IsFinite(p))) throw new InvalidDataException("checkpoint drift statistics are not finite");
            _power[i] = p;
            float rms = (float)Math.Sqrt(p);
            _scale[i] = rms > DriftThreshold ? rms / DriftThreshold : 1f;
        }
    }

    public void Reset()
    {
        _net.Reset();
        _shadow?.Reset();
        _count = 0;
        for (int i = 0; i < _in; i++) _last[i] = Model.ChannelMean[i];
        Array.Fill(_power, 1.0); Array.Fill(_scale, 1f);
    }
}
