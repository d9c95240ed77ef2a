using EdgeRnn.Ingest;
using EdgeRnn.Forecasting.Baselines;
using EdgeRnn.Model;

namespace EdgeRnn.Forecasting;

/// <summary>
/// An EdgeRnn forecaster, composed of explicit parts: a <see cref="ChannelScaler"/> (the one place that scales), an
/// optional linear skip path over the last L values of each target (NLinear: last-value relative), and a recurrent network
/// whose head emits a normalized correction for the next H values of every target:
///   forecast[k, c] = mean_c + std_c · skip(z_c[t-L+1..t])[k] + std_c · net(features[..t])[k*C + c]      (sensor units)
/// The network works on normalized values only (its own input/output normalization is identity), so the values never go
/// back and forth between units. <see cref="ForecasterFile"/> reads and writes it (format v2, v1, network-only files);
/// <see cref="HybridStepper"/> runs it. The descriptions (name, version and other free keys) live in <see cref="Metadata"/>.
/// A network-only file (the shared reference format) is a model with an identity scaler and no skip path whose network
/// scales inside (<see cref="IsNetworkOnly"/>): it forecasts exactly what `predict` prints, but cannot be fine-tuned.
/// </summary>
public sealed class HybridModel
{
    public ForecasterParameters Net { get; }
    public LinearSkip? Skip { get; }
    public ChannelScaler Scaler { get; }
    /// <summary>Input channel names (for a forecaster file: targets first, then extra features).</summary>
    public string[] Channels { get; }
    public string[] Targets { get; }
    public int Horizon { get; }
    public TimeSpan? SamplePeriod { get; }
    public bool IsNetworkOnly => Scaler.IsIdentity;
    /// <summary>Free description keys (name, version, trained_on, ...): the network's metadata bag, written back on save.</summary>
    public Dictionary<string, string> Metadata => Net.Metadata;

    public InputTransform Transform => Scaler.Transform;
    /// <summary>Raw z-score of each input channel (the scaler's).</summary>
    public float[] ChannelMean => Scaler.Mean;
    public float[] ChannelStd => Scaler.Std;

    public HybridModel(ForecasterParameters net, LinearSkip? skip, string[] channels, string[] targets, int horizon,
        InputTransform transform, float[] channelMean, float[] channelStd, float[] diffStd, TimeSpan? samplePeriod)
        : this(net, skip, new ChannelScaler(channelMean, channelStd, diffStd, transform, targets.Length), channels, targets, horizon, samplePeriod)
    {
        // The network learns on normalized features and residuals: its own normalization is identity.
        net.InputMean = null; net.InputStd = null; net.OutputMean = null; net.OutputStd = null;
    }

    public HybridModel(ForecasterParameters net, LinearSkip? skip, ChannelScaler scaler, string[] channels, string[] targets, int horizon, TimeSpan? samplePeriod)
    {
        Net = net; Skip = skip; Scaler = scaler; Channels = channels; Targets = targets; Horizon = horizon; SamplePeriod = samplePeriod;
        if (net.Shape.InputSize != channels.Length) throw new ArgumentException($"the network takes {net.Shape.InputSize} inputs but the model names {channels.Length} features");
        if (net.Shape.OutputSize != horizon * targets.Length) throw new ArgumentException($"the network emits {net.Shape.OutputSize} outputs, not horizon {horizon} × {targets.Length} targets");
        if (scaler.Channels != channels.Length || scaler.TargetMean.Length != targets.Length) throw new ArgumentException("the scaler does not match the features and targets");
        if (skip is not null && (skip.Horizon != horizon || scaler.IsIdentity)) throw new ArgumentException("the skip path needs the model's horizon and a scaler");
        if (!scaler.IsIdentity)
            for (int c = 0; c < targets.Length; c++)
                if (c >= channels.Length || channels[c] != targets[c]) throw new ArgumentException("targets must be the first input channels");
    }

    /// <summary>A network-only file's network as a forecaster: its outputs, step-major [horizon, targets], are the forecasts.</summary>
    public static HybridModel NetworkOnly(ForecasterParameters net, string[] features, string[] targets, TimeSpan? period)
    {
        if (targets.Length == 0 || net.Shape.OutputSize % targets.Length != 0)
            throw new ArgumentException($"the network emits {net.Shape.OutputSize} outputs, not a multiple of {targets.Length} targets");
        return new HybridModel(net, null, ChannelScaler.Identity(features.Length, targets.Length), features, targets, net.Shape.OutputSize / targets.Length, period);
    }

    public int TargetCount => Targets.Length;


    /// <summary>Sets the free description keys (name, version and any extra).</summary>
    public void WriteMetadata(string name, string version, IDictionary<string, string>? extra = null)
    {
        Metadata["name"] = name;
        Metadata["version"] = version;
        if (extra is not null) foreach (var kv in extra) Metadata[kv.Key] = kv.Value;
    }

    /// <summary>Saves as a v2 forecaster file.</summary>
    public void Save(string path) => ForecasterFile.Save(this, path);

    /// <summary>Loads a v2 or v1 forecaster file (a network-only file needs <see cref="ForecasterFile.Load"/> with its targets).</summary>
    public static HybridModel Load(string path) => ForecasterFile.Load(path);

    /// <summary>A deep copy (independent weights).</summary>
    public HybridModel Clone() => new(Net.Clone(), Skip, Scaler, Channels, Targets, Horizon, SamplePeriod);
}

/// <summary>
/// Runs a <see cref="HybridModel"/> over a stream, one sample at a time, allocation-free: gap-fills inputs (<see cref="MissingValues"/>,
/// the one missing-value policy: carry the last observation forward; before any, the channel mean), has the scaler build the
/// network's features, steps the (float or int8) network, adds the skip path. Also exposes the normalized pieces the
/// online learner stores (features, skip forecast), so training and inference share one path.
/// </summary>
public sealed class HybridStepper
{
    public HybridModel Model { get; }
    private IForecaster _net;
    private readonly IForecaster? _shadow; // the shipped network, frozen, stepped on the same inputs (the fine-tuning guard's reference)
    private readonly ChannelScaler _scaler;
    private readonly int _c, _h, _l, _in;
    private readonly float[] _ring;      // [L, C] normalized filled target history, circular
    private readonly float[] _last;      // [channels] raw last observed (filled) values
    private readonly float[] _netZ, _netOut, _shadowOut, _window, _skipOut;
    private readonly float[] _features;  // [channels] what the network saw (normalized)
    private readonly float[] _skipNorm;  // [H*C] skip forecast, normalized
    private readonly double[] _power;    // [channels] running mean square of each normalized input (1 = as in training)
    private readonly float[] _scale;     // [channels] drift scale of each input (≥ 1)
    private long _count;
    /// <summary>The drift scale engages once an input's running RMS exceeds this many trained standard deviations.</summary>
    public float DriftThreshold { get; set; } = 2f;
    /// <summary>Time constant (rows) of the running mean square behind the drift scale.</summary>
    public int DriftMemory { get; set; } = 256;

    public HybridStepper(HybridModel model, IForecaster net, IForecaster? shadow = null)
    {
        Model = model; _net = net; _shadow = shadow; _scaler = model.Scaler;
        _c = model.TargetCount; _h = model.Horizon; _in = model.Channels.Length;
        _l = model.Skip?.Lookback ?? 1;
        _ring = new float[_l * _c];
        _last = new float[_in];
        for (int i = 0; i < _in; i++) _last[i] = _scaler.Mean[i];
        _netZ = new float[_h * _c]; _netOut = new float[_h * _c]; _shadowOut = new float[shadow is null ? 0 : _h * _c];
        _window = new float[_l]; _skipOut = new float[_h];
        _features = new float[_in]; _skipNorm = new float[_h * _c];
        _power = new double[_in]; Array.Fill(_power, 1.0);
        _scale = new float[_in]; Array.Fill(_scale, 1f);
    }

    public IForecaster Network => _net;
    public long Count => _count;
    /// <summary>Warm once the skip path's lookback is full.</summary>
    public bool Ready => _count >= _l;
    /// <summary>Rows before the first forecast (the skip path's lookback).</summary>
    public int Lookback => _l;
    public ReadOnlySpan<float> Features => _features;
    public ReadOnlySpan<float> SkipForecast => _skipNorm;
    /// <summary>[C] the drift scale of each target at the last step: the network's output correction was multiplied by it.</summary>
    public ReadOnlySpan<float> OutputScale => _scale.AsSpan(0, _c);
    /// <summary>[H·C] the network's correction at the last step, in sensor units.</summary>
    public ReadOnlySpan<float> NetOutput => _netOut;
    /// <summary>[H·C] the frozen shadow network's correction at the last step, in sensor units (empty without one).</summary>
    public ReadOnlySpan<float> ShadowOutput => _shadowOut;
    public IForecaster? Shadow => _shadow;

    /// <summary>Swaps in another network (e.g. a fine-tuned copy) carrying the recurrent state over. The state buffer is the caller's.</summary>
    public void SwapNetwork(IForecaster next, Span<float> stateScratch)
    {
        _net.GetState(stateScratch);
        next.SetState(stateScratch);
        _net = next;
    }

    /// <summary>
    /// sample: [channels] raw, NaN = missing; forecast: [H, C] raw. Returns <see cref="Ready"/>.
    /// <see cref="ChannelScaler"/> holds the trained scaling; this stepper tracks the one piece of per-stream state, the drift
    /// scale s ≥ 1 of each input, and passes it to the scaler: s = RMS / threshold
    /// once the input's running RMS (in trained standard deviations) exceeds the threshold, else 1. So a stream whose variance
    /// grew k-fold feeds the network inputs of the size it was trained on (RevIN-style, tracked online), and the network's
    /// output correction for a target is multiplied back by that target's s. Inside the trained range s = 1 exactly: the
    /// network sees what it was trained on. A final clamp bounds what one wild sample can do.
    /// </summary>
    public bool Step(ReadOnlySpan<float> sample, Span<float> forecast)
    {
        var sc = _scaler;
        double keep = 1.0 - 1.0 / Math.Max(DriftMemory, 1);
        for (int i = 0; i < _in; i++)
        {
            float v = sample[i];
            v = MissingValues.Carry(v, _last[i]); // the one missing-value policy, unbounded hold
            // Drift scale (off for a network-only file, whose network scales inside itself): the unclamped feature's
            // running mean square in trained standard deviations; beyond the threshold the feature is divided by RMS / threshold.
            float z0 = sc.RawFeature(i, v, _last[i], _count == 0);
            if (!sc.IsIdentity && float.IsFinite(z0) && _count > 0) _power[i] = keep * _power[i] + (1 - keep) * Math.Min((double)z0 * z0, 1e6);
            float rms = (float)Math.Sqrt(_power[i]);
            _scale[i] = rms > DriftThreshold ? rms / DriftThreshold : 1f;
            _features[i] = sc.Feature(i, v, _last[i], _count == 0, _scale[i]);
            _last[i] = v;
        }
        _net.Step(_features, _netZ);
        for (int j = 0; j < _netZ.Length; j++) _netOut[j] = sc.CorrectionToUnits(j % _c, _netZ[j], _scale[j % _c]);
        if (_shadow is not null)
        {
            _shadow.Step(_features, _shadowOut);
            for (int j = 0; j < _shadowOut.Length; j++) _shadowOut[j] = sc.CorrectionToUnits(j % _c, _shadowOut[j], _scale[j % _c]);
        }
        var skip = Model.Skip;
        if (skip is not null)
        {
            int slot = (int)(_count % _l);
            for (int c = 0; c < _c; c++) _ring[slot * _c + c] = sc.Normalize(c, _last[c]);
        }
        _count++;
        for (int c = 0; c < _c; c++)
        {
            if (skip is not null)
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
            for (int k = 0; k < _h; k++)
            {
                _skipNorm[k * _c + c] = _skipOut[k];
                forecast[k * _c + c] = sc.Denormalize(c, _skipOut[k]) + _netOut[k * _c + c];
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
        for (int i = 0; i < _in; i++) _last[i] = _scaler.Mean[i];
        Array.Fill(_power, 1.0); Array.Fill(_scale, 1f);
    }
}
