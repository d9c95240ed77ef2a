using EdgeRnn.Ingest;
using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;
using EdgeRnn.Forecasting.Experts;
using EdgeRnn.Forecasting.Intervals;

namespace EdgeRnn.Forecasting;

/// <summary>
/// <see cref="IStreamForecaster"/> over a <see cref="HybridModel"/>. Observe runs on the caller's thread, allocates
/// nothing and never waits. With fine-tuning on, learning runs on a background thread this class owns
/// (<see cref="StreamForecasterOptions.BackgroundLearning"/>, the daemon's mode) or synchronously inside Observe every
/// k samples (backtests, for determinism). Either way the learner trains float master weights, builds a fresh network
/// (re-quantized for int8) and publishes it; Observe swaps it in at its next call, carrying the recurrent state over.
///
/// What is served (<see cref="StreamForecasterOptions.Aggregate"/>, on by default) is not the network alone but the online
/// aggregate (<see cref="HedgeAggregate"/>) of several experts per target and horizon step: repeat-last-value, seasonal
/// naive, an online least-squares linear model (<see cref="ExpertPanel"/>), the model's skip path, the shipped network
/// run frozen and, with fine-tuning on, the fine-tuned network. Each forecast is scored when its truth arrives, and the
/// intervals (<see cref="ConformalIntervals"/>) come from the aggregate's own residuals. The backtest and the daemon both
/// run this class, so the backtest measures what the daemon serves.
/// </summary>
public sealed class StreamForecaster : IStreamForecaster
{
    private readonly HybridStepper _stepper;
    private readonly OnlineTuner? _tuner;
    private readonly StreamForecasterOptions _options;
    private readonly float[] _stateScratch, _truth, _bounded;
    private readonly ExpertPanel? _panel;
    private readonly HedgeAggregate? _aggregate;
    private readonly float[] _experts = [], _served = [], _radius = [], _scratch = [];
    private readonly string[] _expertNames = [];
    private readonly int _tunedExpert = -1;
    private IForecaster? _pending; // published by the learner, taken by Observe
    private readonly Thread? _thread;
    private readonly AutoResetEvent? _wake;
    private volatile bool _stop;
    private long _rejected;
    private readonly object _learnGate = new(); // held only by the learner side (learner thread or checkpoint), never by Observe

    public HybridModel Model => _stepper.Model;
    /// <summary>Fine-tuning may be paused (history is still recorded); on by default.</summary>
    public bool LearningEnabled { get; set; } = true;
    /// <summary>The aggregate scores the forecasts made while this is on (its weights and intervals learn from them); off,
    /// they are served but never scored. A backtest keeps it off over the rows the network was fitted on: errors there
    /// flatter the network and the skip path, and the weights would start the test trusting them more than they deserve.</summary>
    public bool AggregateScoring { get; set; } = true;
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
        // A network-only file is served as is: it forecasts in its own units (no scaler for the experts' losses) and
        // may forecast something it is not fed.
        bool aggregate = options.Aggregate && !model.IsNetworkOnly;
        bool shadow = aggregate && options.FineTune;
        // CreateNetwork's networks keep the file's weights for good: the served one with fine-tuning off, the frozen one with it on.
        var shipped = options.CreateNetwork;
        _stepper = new HybridStepper(model,
            !options.FineTune && shipped is not null ? shipped(model.Net) : NetworkFactory.Create(model.Net.Clone(), options.Precision),
            shadow ? shipped?.Invoke(model.Net) ?? NetworkFactory.Create(model.Net.Clone(), options.Precision) : null);
        if (!options.DriftScaling) _stepper.DriftThreshold = float.PositiveInfinity;
        _stateScratch = new float[model.Net.Shape.StateSize];
        _truth = new float[model.TargetCount];
        _bounded = new float[model.TargetCount];
        if (aggregate)
        {
            int hc = model.Horizon * model.TargetCount;
            _panel = new ExpertPanel(model.TargetCount, model.Horizon, SeasonOf(model), options.LinearLookback, options.LinearMemory);
            var names = new List<string>(ExpertPanel.Names);
            if (model.Skip is not null) names.Add("nlinear_skip");
            names.Add("network_frozen");
            if (options.FineTune) { _tunedExpert = names.Count; names.Add("network_tuned"); }
            _expertNames = names.ToArray();
            _aggregate = new HedgeAggregate(_expertNames.Length, model.Horizon, model.TargetCount, options.AggregateMemory, options.Coverage);
            _experts = new float[_expertNames.Length * hc];
            _served = new float[hc]; _radius = new float[hc];
        }
        _scratch = new float[2 * model.Horizon * model.TargetCount];
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

    /// <summary>
    /// The seasonal period in rows: the model's <c>edgernn.season</c> metadata key (written by train and backtest from the
    /// training span), else one day of samples when the sample period divides a day, else 1 (no season).
    /// </summary>
    public static int SeasonOf(HybridModel model)
    {
        if (model.Net.Metadata.TryGetValue("edgernn.season", out string? s))
        {
            if (!int.TryParse(s, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int v) || v < 1)
                throw new InvalidDataException($"model metadata edgernn.season must be a positive integer, got '{s}'");
            return v;
        }
        if (model.SamplePeriod is { } p && p > TimeSpan.Zero && TimeSpan.TicksPerDay % p.Ticks == 0)
        {
            long perDay = TimeSpan.TicksPerDay / p.Ticks;
            if (perDay >= 2 && perDay <= 100_000) return (int)perDay;
        }
        return 1;
    }

    /// <summary>The daemon's entry point.</summary>
    public static StreamForecaster Load(string modelPath, Precision precision, bool fineTune) =>
        new(HybridModel.Load(modelPath), new StreamForecasterOptions { Precision = precision, FineTune = fineTune });

    public static StreamForecaster Load(string modelPath, StreamForecasterOptions options) => new(ForecasterFile.Load(modelPath, options.NetworkOnly), options);

    /// <summary>The online aggregate (null with <see cref="StreamForecasterOptions.Aggregate"/> off): weights, residuals, intervals.</summary>
    public HedgeAggregate? Aggregate => _aggregate;
    /// <summary>Names of the aggregated experts, in the order of <see cref="ExpertForecasts"/> (empty without the aggregate).</summary>
    public IReadOnlyList<string> ExpertNames => _expertNames;
    /// <summary>[E, H·C] each expert's forecast made at the last Observe, normalized (training z-score of each target).</summary>
    public ReadOnlySpan<float> ExpertForecasts => _experts;
    /// <summary>The network's inputs at the last Observe (normalized, after drift scaling and clamping).</summary>
    public ReadOnlySpan<float> NetworkInputs => _stepper.Features;

    /// <summary>Name of the expert with the largest mean weight (null without the aggregate).</summary>
    public string? LeadingExpert
    {
        get
        {
            if (_aggregate is null) return null;
            int best = 0;
            for (int e = 1; e < _expertNames.Length; e++) if (_aggregate.MeanWeight(e) > _aggregate.MeanWeight(best)) best = e;
            return _expertNames[best];
        }
    }

    public double RunningCoverage => _aggregate?.Intervals.RunningCoverage ?? double.NaN;

    public OnlineLearningStats Stats => _tuner is null
        ? new OnlineLearningStats(0, 0, Interlocked.Read(ref _rejected), double.NaN)
        : new OnlineLearningStats(_tuner.Updates, _tuner.Rollbacks, Interlocked.Read(ref _rejected) + _tuner.Skipped, _tuner.LastLoss,
            _aggregate is not null && _tunedExpert >= 0 ? _aggregate.MeanWeight(_tunedExpert) : double.NaN);

    public bool Observe(ReadOnlySpan<float> sample, Span<float> forecast)
    {
        int hc = _stepper.Model.Horizon * _stepper.Model.TargetCount;
        return Observe(sample, forecast, _scratch.AsSpan(0, hc), _scratch.AsSpan(hc, hc));
    }

    public bool Observe(ReadOnlySpan<float> sample, Span<float> forecast, Span<float> lower, Span<float> upper)
    {
        var m = _stepper.Model;
        int hcount = m.Horizon * m.TargetCount, C = m.TargetCount;
        if (sample.Length != m.Channels.Length) throw new ArgumentException($"sample has {sample.Length} values, the model expects {m.Channels.Length} ({string.Join(",", m.Channels)})");
        if (forecast.Length < hcount || lower.Length < hcount || upper.Length < hcount) throw new ArgumentException("forecast, lower and upper spans must each hold horizon × targets values");
        var next = Interlocked.Exchange(ref _pending, null);
        if (next is not null) _stepper.SwapNetwork(next, _stateScratch);
        bool anyFinite = false;
        foreach (float v in sample) anyFinite |= float.IsFinite(v);
        if (!anyFinite) Interlocked.Increment(ref _rejected);
        bool ready = _stepper.Step(sample, forecast);
        if (!m.IsNetworkOnly)
            for (int c = 0; c < C; c++) _truth[c] = m.Scaler.Normalize(c, sample[c]); // NaN stays NaN: never scored nor learned from
        if (_aggregate is not null)
        {
            // Score the earlier forecasts on this row's truth, then every expert forecasts from this row. One wild value
            // (1e30) must not overflow the experts' sums: bounded at ±1e4 training standard deviations.
            for (int c = 0; c < C; c++) _bounded[c] = MissingValues.IsMissing(_truth[c]) ? float.NaN : Math.Clamp(_truth[c], -1e4f, 1e4f); // a missing target stays masked
            _aggregate.Score(_bounded);
            _panel!.Push(_bounded);
            _panel.Forecast(_experts);
            int e = ExpertPanel.Names.Length;
            ReadOnlySpan<float> skip = _stepper.SkipForecast, net = _stepper.NetOutput;
            ReadOnlySpan<float> frozen = _stepper.Shadow is null ? net : _stepper.ShadowOutput;
            if (m.Skip is not null) { skip.CopyTo(_experts.AsSpan(e * hcount, hcount)); e++; }
            for (int j = 0; j < hcount; j++) _experts[e * hcount + j] = skip[j] + m.Scaler.UnitsToCorrection(j % C, frozen[j]);
            e++;
            if (_tunedExpert >= 0)
                for (int j = 0; j < hcount; j++) _experts[e * hcount + j] = skip[j] + m.Scaler.UnitsToCorrection(j % C, net[j]);
            _aggregate.Combine(_experts, _served, _radius, ready && AggregateScoring);
            for (int j = 0; j < hcount; j++)
            {
                forecast[j] = m.Scaler.Denormalize(j % C, _served[j]);
                lower[j] = m.Scaler.Denormalize(j % C, _served[j] - _radius[j]); // NaN until the cell has a residual
                upper[j] = m.Scaler.Denormalize(j % C, _served[j] + _radius[j]);
            }
        }
        else
        {
            lower.Slice(0, hcount).Fill(float.NaN);
            upper.Slice(0, hcount).Fill(float.NaN);
        }
        if (_tuner is not null)
        {
            _tuner.Record(_stepper.Features, _stepper.SkipForecast, _truth, _stepper.OutputScale);
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

    /// <summary>Section layouts: 1 and 2 (before the aggregate and the learner ring's scale column), 3 (both).</summary>
    public int CheckpointVersion => 3;

    /// <summary>Weights (the master float weights when fine-tuning), the recurrent state, the stepper's history, the learner's ring,
    /// the frozen network's state, the experts' history and online linear models, the aggregate's weights and intervals.</summary>
    public void WriteCheckpoint(BinaryWriter w)
    {
        lock (_learnGate)
        {
            var stepState = _stepper.CaptureState();
            w.Write(stepState.Length);
            foreach (float v in stepState) w.Write(v);
            w.Write(_tuner is not null);
            _tuner?.Write(w);
            // v3: the frozen network's state, the experts and the aggregate.
            w.Write(_aggregate is not null);
            if (_aggregate is not null)
            {
                var shadow = new float[_stepper.Shadow?.StateSize ?? 0];
                _stepper.Shadow?.GetState(shadow);
                w.Write(shadow.Length);
                foreach (float v in shadow) w.Write(v);
                _panel!.Write(w);
                _aggregate.Write(w);
            }
        }
    }

    /// <summary>Restores a section of <paramref name="version"/> 3. Versions 1 and 2 (before the aggregate) restore the network,
    /// the stream state and the learner; the aggregate then starts without evidence.</summary>
    public void ReadCheckpoint(BinaryReader r, int version)
    {
        lock (_learnGate)
        {
            if (version is not (1 or 2 or 3)) throw new InvalidDataException($"checkpoint section version {version} is not supported");
            int n = r.ReadInt32();
            if (n < 0 || n > 1 << 26) throw new InvalidDataException("checkpoint state length out of range");
            var state = new float[n];
            for (int i = 0; i < n; i++) state[i] = r.ReadSingle();
            bool hasTuner = r.ReadBoolean();
            if (hasTuner && _tuner is not null)
            {
                _tuner.Read(r, hasScale: version >= 3);
                _stepper.SwapNetwork(NetworkFactory.Create(_tuner.Master.Clone(), Precision), _stateScratch);
                Volatile.Write(ref _pending, null);
            }
            else if (hasTuner) throw new InvalidDataException("checkpoint holds fine-tuned weights but fine-tuning is off here");
            _stepper.RestoreState(state);
            bool hasAggregate = version >= 3 && r.ReadBoolean();
            if (hasAggregate && _aggregate is not null)
            {
                int sn = r.ReadInt32();
                if (sn != (_stepper.Shadow?.StateSize ?? 0)) throw new InvalidDataException("checkpoint frozen-network state does not match this forecaster");
                var shadow = new float[sn];
                for (int i = 0; i < sn; i++) shadow[i] = r.ReadSingle();
                _stepper.Shadow?.SetState(shadow);
                _panel!.Read(r);
                _aggregate.Read(r);
            }
            else if (_stepper.Shadow is { } sh)
            {
                // An older checkpoint: the frozen network saw the same inputs, so the tuned network's state is its best available state.
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
    /// <summary>Serve the online aggregate of the experts (with intervals) rather than the network alone (EdgeRnn forecaster
    /// files; a network-only file is always served as is).</summary>
    public bool Aggregate { get; init; } = true;
    /// <summary>Divide the network's inputs by the stream's drift scale once their RMS leaves the trained range (and scale the
    /// correction back); off = the model's own arithmetic, as its PyTorch twin computes it.</summary>
    public bool DriftScaling { get; init; } = true;
    /// <summary>Nominal coverage of the prediction intervals.</summary>
    public double Coverage { get; init; } = 0.9;
    /// <summary>Forgetting time constant (rows) of the aggregate's cumulative losses and loss scale.</summary>
    public double AggregateMemory { get; init; } = 1000;
    /// <summary>Forgetting time constant (rows) of the online linear expert's least squares.</summary>
    public double LinearMemory { get; init; } = 1000;
    /// <summary>Window of the online linear expert (values).</summary>
    public int LinearLookback { get; init; } = 48;
    /// <summary>Builds a network that keeps the model's weights for good (the parameters are read only) instead of
    /// <see cref="NetworkFactory.Create"/>: the served network with fine-tuning off, the frozen reference expert with it on
    /// (the daemon's slot of a batch of streams sharing the model).</summary>
    public Func<ForecasterParameters, IForecaster>? CreateNetwork { get; init; }
    /// <summary>What a network-only file's outputs are, when its metadata does not say.</summary>
    public NetworkOnlyInfo? NetworkOnly { get; init; }
}
