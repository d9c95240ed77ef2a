using EdgeRnn.Forecasting.Neural;
using EdgeRnn.Model;

namespace EdgeRnn.Forecasting;

/// <summary>Online fine-tuning settings: the CPU cost per sample is bounded by Batch × Chunk / Every network steps (×3 for backward).</summary>
public sealed record OnlineOptions
{
    /// <summary>One update every this many samples.</summary>
    public int Every { get; init; } = 8;
    public int Batch { get; init; } = 4;
    public int Chunk { get; init; } = 64;
    public int Warmup { get; init; } = 16;
    /// <summary>Rows of history kept for replay (recent windows).</summary>
    public int Replay { get; init; } = 4096;
    public float LearningRate { get; init; } = 3e-4f;
    /// <summary>A batch whose loss exceeds this multiple of the running loss is an outlier: not learned from.</summary>
    public double SpikeFactor { get; init; } = 8;
    /// <summary>An update that leaves its own batch's loss above this multiple of the loss before it is rolled back.</summary>
    public double RollbackFactor { get; init; } = 1.5;
    /// <summary>Good updates between snapshots of the last good weights.</summary>
    public int SnapshotEvery { get; init; } = 16;
    public int Seed { get; init; } = 1;
}

/// <summary>
/// The online learner: a ring of recent normalized rows (features, skip forecast, truth), truncated BPTT on a replay batch
/// every k samples (always including the most recent chunk), guardrails (outlier batches skipped, non-finite updates
/// refused, clipped gradients, a rollback to the last good weights when an update makes its own batch worse).
/// Single producer (<see cref="Record"/>, the forecasting thread) and single consumer (<see cref="Learn"/>, the learner):
/// the learner copies the rows it needs and checks the producer did not lap them (seqlock style), so neither waits.
/// </summary>
public sealed class OnlineTuner
{
    private readonly OnlineOptions _o;
    private readonly int _i, _out, _c, _h, _skipL, _cap;
    private readonly float[] _f, _s, _y, _sc; // ring [cap, I], [cap, O], [cap, C], [cap, C]
    private long _written; // rows recorded (published with Volatile.Write after the row is complete)
    private long _lastLearnAt;
    private readonly ResidualLearner _learner;
    private readonly float[] _snapshot;
    private readonly CopySeries _copy;
    private readonly Random _rng;
    private readonly long[] _starts;
    private double _ema = double.NaN;
    private int _goodSinceSnapshot;
    public long Updates { get; private set; }
    public long Rollbacks { get; private set; }
    public long Skipped { get; private set; }
    public double LastLoss { get; private set; } = double.NaN;
    /// <summary>The float master weights (owned by the learner thread).</summary>
    public ForecasterParameters Master { get; }

    public OnlineTuner(HybridModel model, OnlineOptions options)
    {
        _o = options;
        Master = model.Net.Clone();
        _i = Master.Shape.InputSize; _out = Master.Shape.OutputSize; _c = model.TargetCount; _h = model.Horizon;
        _skipL = model.Skip?.Lookback ?? 1;
        _cap = options.Replay + 4 * options.Chunk + _h;
        _f = new float[_cap * _i]; _s = new float[(long)_cap * _out]; _y = new float[_cap * _c]; _sc = new float[_cap * _c];
        Array.Fill(_sc, 1f);
        _learner = new ResidualLearner(Master, _h, 1, options.Chunk, options.Batch, options.Warmup, options.LearningRate);
        _snapshot = (float[])Master.Arena.Clone();
        _copy = new CopySeries(_i, _out, _c, options.Replay + options.Chunk + _h);
        _rng = new Random(options.Seed);
        _starts = new long[options.Batch];
    }

    public long Rows => Volatile.Read(ref _written);

    /// <summary>Hot path (producer): stores row t = Rows. features [I], skip [O] normalized; truth [C] normalized (NaN = missing);
    /// scale [C] the drift scale of the network's output at this row.</summary>
    public void Record(ReadOnlySpan<float> features, ReadOnlySpan<float> skip, ReadOnlySpan<float> truth, ReadOnlySpan<float> scale)
    {
        long t = _written;
        int slot = (int)(t % _cap);
        features.CopyTo(_f.AsSpan(slot * _i, _i));
        skip.CopyTo(_s.AsSpan((int)((long)slot * _out), _out));
        truth.CopyTo(_y.AsSpan(slot * _c, _c));
        scale.CopyTo(_sc.AsSpan(slot * _c, _c));
        Volatile.Write(ref _written, t + 1);
    }

    /// <summary>True when enough new rows arrived for the next update.</summary>
    public bool Due => Rows - _lastLearnAt >= _o.Every && Rows >= _o.Chunk + _h;

    /// <summary>
    /// One update if due (learner side). Returns true when the master weights changed (the caller then re-publishes
    /// the network, re-quantizing for int8).
    /// </summary>
    public bool Learn()
    {
        if (!Due) return false;
        long now = Rows - 1; // last row whose value is known
        _lastLearnAt = now + 1;
        long lo = Math.Max(0, now - (_o.Replay + _o.Chunk) + 1);
        // Copy rows [lo, now]; the producer may overwrite slots older than now+1-cap meanwhile: re-check after the copy.
        for (int attempt = 0; ; attempt++)
        {
            _copy.Fill(_f, _s, _y, _sc, _cap, lo, now);
            if (Rows - _cap <= lo) break;
            lo = Math.Max(lo, Rows - _cap + _o.Chunk);
            if (attempt > 3 || lo > now - _o.Chunk + 1) return false;
        }
        // Most recent chunk first, then random replay among the retained rows (chunks must also clear the skip lookback).
        long minStart = Math.Max(lo, _skipL - 1 - _o.Warmup);
        long maxStart = now - _o.Chunk + 1;
        if (maxStart < minStart) return false;
        // The most recent chunk whose last row's first target is known.
        _starts[0] = Math.Max(minStart, maxStart - 1);
        for (int b = 1; b < _starts.Length; b++) _starts[b] = minStart + (long)(_rng.NextDouble() * (maxStart - minStart + 1));

        var (pre, _) = _learner.TrainBatch(_copy, _starts, now + 1, apply: false);
        if (!double.IsFinite(pre)) return false;
        if (double.IsFinite(_ema) && Updates > 8 && pre > _o.SpikeFactor * _ema)
        {
            // An outlier batch (a fault or a level shift in its window): do not learn from it. The running loss moves a little
            // toward it so that a lasting change of regime is eventually accepted.
            Skipped++;
            _ema = 0.9 * _ema + 0.1 * Math.Min(pre, 2 * _o.SpikeFactor * _ema);
            return false;
        }
        _ema = double.IsFinite(_ema) ? 0.95 * _ema + 0.05 * pre : pre;
        var (_, applied) = _learner.TrainBatch(_copy, _starts, now + 1, apply: true);
        if (!applied) { Skipped++; return false; }
        var (post, _) = _learner.TrainBatch(_copy, _starts, now + 1, apply: false);
        Updates++;
        LastLoss = post;
        if (!double.IsFinite(post) || post > _o.RollbackFactor * pre || !AllFinite(Master.Arena))
        {
            _snapshot.CopyTo(Master.Arena, 0);
            Master.MarkChanged();
            _learner.ResetOptimizer();
            Rollbacks++;
            _goodSinceSnapshot = 0;
            return true;
        }
        if (++_goodSinceSnapshot >= _o.SnapshotEvery)
        {
            Master.Arena.CopyTo(_snapshot, 0);
            _goodSinceSnapshot = 0;
        }
        return true;
    }

    private static bool AllFinite(ReadOnlySpan<float> x)
    {
        foreach (float v in x) if (!float.IsFinite(v)) return false;
        return true;
    }

    /// <summary>Checkpoint of the learner: master weights, counters and the history ring (not the optimizer moments).</summary>
    public void Write(BinaryWriter w)
    {
        w.Write(Master.Arena.Length);
        foreach (float v in Master.Arena) w.Write(v);
        w.Write(Updates); w.Write(Rollbacks); w.Write(Skipped); w.Write(_ema); w.Write(_written); w.Write(_lastLearnAt);
        w.Write(_cap);
        foreach (float v in _f) w.Write(v);
        foreach (float v in _s) w.Write(v);
        foreach (float v in _y) w.Write(v);
        foreach (float v in _sc) w.Write(v);
    }

    /// <param name="r">source</param>
    /// <param name="hasScale">the checkpoint holds the drift-scale ring (stream checkpoint version 3 and later)</param>
    public void Read(BinaryReader r, bool hasScale)
    {
        int n = r.ReadInt32();
        if (n != Master.Arena.Length) throw new InvalidDataException($"checkpoint holds {n} weights, the model has {Master.Arena.Length}");
        var arena = new float[n];
        for (int i = 0; i < n; i++) arena[i] = r.ReadSingle();
        if (!AllFinite(arena)) throw new InvalidDataException("checkpoint weights hold non-finite values");
        Updates = r.ReadInt64(); Rollbacks = r.ReadInt64(); Skipped = r.ReadInt64(); _ema = r.ReadDouble();
        long written = r.ReadInt64(); long lastLearn = r.ReadInt64();
        int cap = r.ReadInt32();
        if (cap != _cap) throw new InvalidDataException($"checkpoint history ring has {cap} rows, expected {_cap} (different online options)");
        for (int i = 0; i < _f.Length; i++) _f[i] = r.ReadSingle();
        for (int i = 0; i < _s.Length; i++) _s[i] = r.ReadSingle();
        for (int i = 0; i < _y.Length; i++) _y[i] = r.ReadSingle();
        if (hasScale)
            for (int i = 0; i < _sc.Length; i++)
            {
                _sc[i] = r.ReadSingle();
                if (!(_sc[i] >= 1 && float.IsFinite(_sc[i]))) throw new InvalidDataException("checkpoint drift scale must be finite and at least 1");
            }
        else Array.Fill(_sc, 1f);
        arena.CopyTo(Master.Arena, 0);
        Master.MarkChanged();
        arena.CopyTo(_snapshot, 0);
        _learner.ResetOptimizer(); // moments are not checkpointed: Adam restarts its bias correction (small lr, harmless)
        _written = written; _lastLearnAt = lastLearn;
    }

    /// <summary>The learner's private copy of rows [lo, hi], addressed by absolute row.</summary>
    private sealed class CopySeries(int inputs, int outputs, int targets, int capacity) : ISeriesAccess
    {
        private readonly float[] _f = new float[capacity * inputs], _s = new float[(long)capacity * outputs], _y = new float[capacity * targets], _sc = new float[capacity * targets];
        private long _lo;
        public void Fill(float[] f, float[] s, float[] y, float[] sc, int cap, long lo, long hi)
        {
            _lo = lo;
            for (long t = lo; t <= hi; t++)
            {
                int slot = (int)(t % cap), j = (int)(t - lo);
                f.AsSpan(slot * inputs, inputs).CopyTo(_f.AsSpan(j * inputs, inputs));
                s.AsSpan((int)((long)slot * outputs), outputs).CopyTo(_s.AsSpan((int)((long)j * outputs), outputs));
                y.AsSpan(slot * targets, targets).CopyTo(_y.AsSpan(j * targets, targets));
                sc.AsSpan(slot * targets, targets).CopyTo(_sc.AsSpan(j * targets, targets));
            }
        }
        public ReadOnlySpan<float> Features(long t) => _f.AsSpan((int)(t - _lo) * inputs, inputs);
        public ReadOnlySpan<float> Skip(long t) => _s.AsSpan((int)((t - _lo) * outputs), outputs);
        public ReadOnlySpan<float> Truth(long t) => _y.AsSpan((int)(t - _lo) * targets, targets);
        public ReadOnlySpan<float> Scale(long t) => _sc.AsSpan((int)(t - _lo) * targets, targets);
    }
}
