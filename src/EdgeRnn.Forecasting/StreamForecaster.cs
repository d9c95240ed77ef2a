using EdgeRnn.Model;

namespace EdgeRnn.Forecasting;

/// <summary>
/// <see cref="IStreamForecaster"/> over a <see cref="HybridModel"/>. Observe runs on the caller's thread, allocates
/// nothing and never waits. With fine-tuning on, learning runs on a background thread this class owns
/// (<see cref="StreamForecasterOptions.BackgroundLearning"/>, the daemon's mode) or synchronously inside Observe every
/// k samples (backtests, for determinism). Either way the learner trains float master weights, builds a fresh network
/// (re-quantized for int8) and publishes it; Observe swaps it in at its next call, carrying the recurrent state over.
/// With fine-tuning on, the shipped network also runs frozen beside the tuned one and <see cref="ForecastGuard"/> serves the
/// evidence-weighted blend of the two, so fine-tuning cannot make a stable stream worse (one extra network step per sample).
/// </summary>
public sealed class StreamForecaster : IStreamForecaster
{
    private readonly HybridStepper _stepper;
    private readonly OnlineTuner? _tuner;
    private readonly ForecastGuard? _guard;
    private readonly StreamForecasterOptions _options;
    private readonly float[] _stateScratch, _truth;
    private IForecaster? _pending; // published by the learner, taken by Observe
    private readonly Thread? _thread;
    private readonly AutoResetEvent? _wake;
    private volatile bool _stop;
    private long _rejected;
    private readonly object _learnGate = new(); // held only by the learner side (learner thread or checkpoint), never by Observe

    public HybridModel Model => _stepper.Model;
    /// <summary>Fine-tuning may be paused (history is still recorded); on by default.</summary>
    public bool LearningEnabled { get; set; } = true;
    public string ModelName { get; }
    public string ModelVersion { get; }
    public Precision Precision { get; }
    public IReadOnlyList<string> InputChannels => _stepper.Model.Channels;
    public IReadOnlyList<string> Targets => _stepper.Model.Targets;
    public int Horizon => _stepper.Model.Horizon;
    public TimeSpan? SamplePeriod => _stepper.Model.SamplePeriod;

    public StreamForecaster(HybridModel model, StreamForecasterOptions options)
    {
        if (options.FineTune && model.IsNetworkOnly)
            throw new ArgumentException("fine-tuning needs an EdgeRnn forecaster file (format v2 or v1); this is a network-only file, which is served as is");
        _options = options;
        Precision = options.Precision;
        ModelName = model.Net.Metadata.GetValueOrDefault("name", "edgernn");
        ModelVersion = model.Net.Metadata.GetValueOrDefault("version", "0");
        var online = options.Online ?? new OnlineOptions();
        bool guard = options.FineTune && online.Guard;
        _stepper = new HybridStepper(model, NetworkFactory.Create(model.Net.Clone(), options.Precision),
            guard ? NetworkFactory.Create(model.Net.Clone(), options.Precision) : null);
        _stateScratch = new float[model.Net.Shape.StateSize];
        _truth = new float[model.TargetCount];
        if (guard) _guard = new ForecastGuard(model.Horizon, model.TargetCount, online.GuardMemory);
        if (options.FineTune)
        {
            _tuner = new OnlineTuner(model, online);
            if (options.BackgroundLearning)
            {
                _wake = new AutoResetEvent(false);
                _thread = new Thread(LearnLoop) { IsBackground = true, Name = "edgernn-learner", Priority = ThreadPriority.BelowNormal };
                _thread.Start();
            }
        }
    }

    /// <summary>The daemon's entry point.</summary>
    public static StreamForecaster Load(string modelPath, Precision precision, bool fineTune) =>
        new(HybridModel.Load(modelPath), new StreamForecasterOptions { Precision = precision, FineTune = fineTune });

    public static StreamForecaster Load(string modelPath, StreamForecasterOptions options) => new(ForecasterFile.Load(modelPath, options.NetworkOnly), options);

    /// <summary>The fine-tuning guard (null when fine-tuning or the guard is off): served weights and recent evidence.</summary>
    public ForecastGuard? Guard => _guard;

    public OnlineLearningStats Stats => _tuner is null
        ? new OnlineLearningStats(0, 0, Interlocked.Read(ref _rejected), double.NaN)
        : new OnlineLearningStats(_tuner.Updates, _tuner.Rollbacks, Interlocked.Read(ref _rejected) + _tuner.Skipped, _tuner.LastLoss,
            _guard?.Weight ?? double.NaN);

    public bool Observe(ReadOnlySpan<float> sample, Span<float> forecast)
    {
        var m = _stepper.Model;
        if (sample.Length != m.Channels.Length) throw new ArgumentException($"sample has {sample.Length} values, the model expects {m.Channels.Length} ({string.Join(",", m.Channels)})");
        if (forecast.Length < m.Horizon * m.TargetCount) throw new ArgumentException("forecast span is shorter than horizon × targets");
        var next = Interlocked.Exchange(ref _pending, null);
        if (next is not null) _stepper.SwapNetwork(next, _stateScratch);
        bool anyFinite = false;
        foreach (float v in sample) anyFinite |= float.IsFinite(v);
        if (!anyFinite) Interlocked.Increment(ref _rejected);
        bool ready = _stepper.Step(sample, forecast);
        if (_tuner is not null)
        {
            for (int c = 0; c < _truth.Length; c++) _truth[c] = (sample[c] - m.ChannelMean[c]) / m.ChannelStd[c]; // NaN stays NaN: never learned from
            if (_guard is not null)
            {
                // Score the earlier forecasts of both networks on this row's truth, then serve this row's blend.
                _guard.Score(_truth);
                _guard.Serve(_stepper.NetOutput, _stepper.ShadowOutput, _stepper.SkipForecast, m.ChannelStd.AsSpan(0, _truth.Length), forecast, ready);
            }
            _tuner.Record(_stepper.Features, _stepper.SkipForecast, _truth);
            if (_wake is not null) { if (_tuner.Due && LearningEnabled) _wake.Set(); }
            else if (_tuner.Due && LearningEnabled) LearnAndPublish();
        }
        return ready;
    }

    private void LearnAndPublish()
    {
        lock (_learnGate)
        {
            if (!_tuner!.Learn()) return;
            // The network either swaps the new weights in atomically itself (int8 re-quantizes; a step in progress finishes
            // with the weights it started with) or hands back a new forecaster over a copy, which Observe swaps in at its next call.
            var next = _stepper.Network.WithWeights(_tuner.Master);
            if (!ReferenceEquals(next, _stepper.Network)) Volatile.Write(ref _pending, next);
        }
    }

    private void LearnLoop()
    {
        while (!_stop)
        {
            _wake!.WaitOne(500);
            if (_stop) break;
            try { while (!_stop && _tuner!.Due) LearnAndPublish(); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException)
            {
                // A learner fault must not take the forecasts down: stop learning, keep forecasting with the last weights.
                Console.Error.WriteLine($"edgernn learner stopped: {e.Message}");
                return;
            }
        }
    }

    private const int CheckpointMagic = 0x4B435245; // "ERCK"

    /// <summary>Weights (the master float weights when fine-tuning), the recurrent state, the stepper's history, the learner's ring, the guard's evidence and the frozen shadow's state.</summary>
    public void WriteCheckpoint(Stream destination)
    {
        lock (_learnGate)
        {
            using var w = new BinaryWriter(destination, System.Text.Encoding.UTF8, leaveOpen: true);
            w.Write(CheckpointMagic);
            w.Write(2);
            var stepState = _stepper.CaptureState();
            w.Write(stepState.Length);
            foreach (float v in stepState) w.Write(v);
            w.Write(_tuner is not null);
            _tuner?.Write(w);
            // v2: the guard's evidence and the frozen shadow network's recurrent state.
            w.Write(_guard is not null);
            if (_guard is not null)
            {
                _guard.Write(w);
                var shadow = new float[_stepper.Shadow!.StateSize];
                _stepper.Shadow.GetState(shadow);
                foreach (float v in shadow) w.Write(v);
            }
        }
    }

    public void ReadCheckpoint(Stream source)
    {
        lock (_learnGate)
        {
            using var r = new BinaryReader(source, System.Text.Encoding.UTF8, leaveOpen: true);
            if (r.ReadInt32() != CheckpointMagic) throw new InvalidDataException("not an EdgeRnn checkpoint (bad magic)");
            int version = r.ReadInt32();
            if (version is not (1 or 2)) throw new InvalidDataException($"checkpoint version {version} is not supported");
            int n = r.ReadInt32();
            if (n < 0 || n > 1 << 26) throw new InvalidDataException("checkpoint state length out of range");
            var state = new float[n];
            for (int i = 0; i < n; i++) state[i] = r.ReadSingle();
            bool hasTuner = r.ReadBoolean();
            if (hasTuner && _tuner is not null)
            {
                _tuner.Read(r);
                _stepper.SwapNetwork(NetworkFactory.Create(_tuner.Master.Clone(), Precision), _stateScratch);
                Volatile.Write(ref _pending, null);
            }
            _stepper.RestoreState(state);
            bool hasGuard = version >= 2 && r.ReadBoolean();
            if (hasGuard && _guard is not null)
            {
                _guard.Read(r);
                var shadow = new float[_stepper.Shadow!.StateSize];
                for (int i = 0; i < shadow.Length; i++) shadow[i] = r.ReadSingle();
                _stepper.Shadow.SetState(shadow);
            }
            else if (_stepper.Shadow is { } sh)
            {
                // A v1 checkpoint (or one written without the guard): the shadow saw the same inputs, so the tuned
                // network's state is its best available state; the guard starts without evidence (serves the shipped model).
                _stepper.Network.GetState(_stateScratch);
                sh.SetState(_stateScratch);
            }
        }
    }

    public void Dispose()
    {
        _stop = true;
        _wake?.Set();
        _thread?.Join();
        _wake?.Dispose();
    }
}

public sealed record StreamForecasterOptions
{
    public Precision Precision { get; init; } = Precision.Int8;
    public bool FineTune { get; init; }
    /// <summary>Learn on a thread this class owns (daemon) instead of synchronously inside Observe (backtests).</summary>
    public bool BackgroundLearning { get; init; } = true;
    public OnlineOptions? Online { get; init; }
    /// <summary>What a network-only file's outputs are, when its metadata does not say.</summary>
    public NetworkOnlyInfo? NetworkOnly { get; init; }
}
