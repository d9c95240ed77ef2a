using System.Runtime.ExceptionServices;
using EdgeRnn.Forecasting;
using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;

namespace EdgeRnn.Daemon;

/// <summary>
/// Streams that serve the same int8 model file share one <see cref="SharedModelBatch"/>: the network that keeps the file's
/// weights (with fine-tuning off the served network; with it on the frozen reference expert of the aggregate, beside the
/// stream's own tuned network) is a slot of one <see cref="Int8Forecaster.Batch"/>, so the streams whose samples are ready at
/// the same moment are stepped as one matrix product per layer. A stream's forecaster is otherwise its own (experts,
/// aggregate, intervals, learner, checkpoint), and the batch gives every stream bit-identical network outputs to a network
/// of its own, so forecasts, anomaly scores, outbox seq and checkpoints are what they would be unbatched.
/// </summary>
public sealed class SharedModelBatches
{
    private readonly Dictionary<string, (SharedModelBatch Batch, int Slot)> _slots = new(StringComparer.Ordinal);

    /// <summary>The groups with at least two streams, by full model path.</summary>
    public IReadOnlyDictionary<string, SharedModelBatch> Groups { get; }

    public SharedModelBatches(IEnumerable<ResolvedStream> streams)
    {
        var groups = new Dictionary<string, SharedModelBatch>(StringComparer.Ordinal);
        foreach (var g in streams.Where(Shares).GroupBy(s => Path.GetFullPath(s.Model), StringComparer.Ordinal))
        {
            var members = g.ToArray();
            if (members.Length < 2) continue;
            var batch = new SharedModelBatch(g.Key, members.Length);
            groups[g.Key] = batch;
            for (int i = 0; i < members.Length; i++) _slots[members[i].Name] = (batch, i);
        }
        Groups = groups;
    }

    /// <summary>int8: the network that keeps the file's weights (the served one with fine-tuning off, the frozen reference
    /// expert with it on) can be one of the group's slots.</summary>
    public static bool Shares(ResolvedStream s) => s.Precision == Precision.Int8;

    /// <summary>The stream's forecaster (as <see cref="ResolvedStream.LoadForecaster"/>), its network a batch slot when the
    /// stream shares its model with another.</summary>
    public StreamForecaster Load(ResolvedStream s) =>
        s.LoadForecaster(s.FineTune, _slots.TryGetValue(s.Name, out var at) ? p => at.Batch.Slot(at.Slot, p) : null);
}

/// <summary>
/// One model's streams stepped together by flat combining: a stream's step publishes its input and takes the combiner lock;
/// whoever holds it steps every pending stream as one batch (its own request included, or already done by the previous
/// holder), so no thread waits for a timer or a batch to fill: under load the queue fills while the combiner works, and the
/// next batch takes it all. A step that refuses one stream's input (nothing is stepped then) is retried stream by stream,
/// so only that stream sees the error, as it would alone.
/// </summary>
public sealed class SharedModelBatch
{
    private readonly object _combine = new(), _queue = new();
    private Int8Forecaster.Batch? _batch;
    private ForecasterParameters? _params;
    private int _in, _out;
    private float[] _inputs = [], _outputs = [], _bin = [], _bout = []; // per slot [Count, In] / [Count, O]; the batch's packed copies
    private int[] _pending = [], _ids = [];
    private int _pendingCount;
    private bool[] _done = [];
    private Exception?[] _error = [];
    private long _batches, _streamSteps;
    private int _largest;

    public string ModelPath { get; }
    public int Count { get; }
    /// <summary>Batch steps so far, stream-steps in them, and the most streams one batch held.</summary>
    public (long Batches, long StreamSteps, int Largest) Counters { get { lock (_combine) return (_batches, _streamSteps, _largest); } }

    public SharedModelBatch(string modelPath, int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count));
        ModelPath = modelPath;
        Count = count;
    }

    /// <summary>
    /// Slot <paramref name="index"/>'s network over <paramref name="p"/>. The first call builds the batch; a later call with
    /// different parameters (the file changed between two streams' loads) gets an <see cref="Int8Forecaster"/> of its own.
    /// </summary>
    public IForecaster Slot(int index, ForecasterParameters p)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        lock (_combine)
        {
            if (_batch is null)
            {
                _batch = new Int8Forecaster.Batch(p, Count);
                _params = p.Clone();
                _in = p.Shape.InputSize;
                _out = p.Shape.OutputSize;
                _inputs = new float[Count * _in];
                _bin = new float[Count * _in];
                _outputs = new float[Count * _out];
                _bout = new float[Count * _out];
                _pending = new int[Count];
                _ids = new int[Count];
                _done = new bool[Count];
                _error = new Exception?[Count];
            }
            else if (!SameNetwork(_params!, p)) return new Int8Forecaster(p);
            return new BatchSlot(this, index, _batch.Shape);
        }
    }

    private static bool SameNetwork(ForecasterParameters a, ForecasterParameters b) =>
        a.Shape == b.Shape && a.Arena.AsSpan().SequenceEqual(b.Arena) && Same(a.InputMean, b.InputMean) && Same(a.InputStd, b.InputStd)
        && Same(a.OutputMean, b.OutputMean) && Same(a.OutputStd, b.OutputStd) && OutputHead.Activation(a) == OutputHead.Activation(b);

    private static bool Same(float[]? a, float[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    private void Step(int slot, ReadOnlySpan<float> input, Span<float> output)
    {
        input.CopyTo(_inputs.AsSpan(slot * _in, _in));
        lock (_queue)
        {
            _done[slot] = false;
            _pending[_pendingCount++] = slot;
        }
        lock (_combine)
        {
            if (!_done[slot]) Combine();
            if (_error[slot] is { } e)
            {
                _error[slot] = null;
                ExceptionDispatchInfo.Throw(e);
            }
            _outputs.AsSpan(slot * _out, _out).CopyTo(output);
        }
    }

    /// <summary>Steps every pending stream (the caller holds the combiner lock).</summary>
    private void Combine()
    {
        int n;
        lock (_queue)
        {
            n = _pendingCount;
            _pending.AsSpan(0, n).CopyTo(_ids);
            _pendingCount = 0;
        }
        var ids = _ids.AsSpan(0, n);
        for (int i = 0; i < n; i++) _inputs.AsSpan(ids[i] * _in, _in).CopyTo(_bin.AsSpan(i * _in, _in));
        try
        {
            _batch!.Step(ids, _bin.AsSpan(0, n * _in), _bout.AsSpan(0, n * _out));
            for (int i = 0; i < n; i++) _bout.AsSpan(i * _out, _out).CopyTo(_outputs.AsSpan(ids[i] * _out, _out));
        }
        catch (ArgumentException)
        {
            // one input was refused before any stream stepped: each alone, so the error reaches only its own stream
            for (int i = 0; i < n; i++)
            {
                try
                {
                    _batch!.Step(ids.Slice(i, 1), _bin.AsSpan(i * _in, _in), _outputs.AsSpan(ids[i] * _out, _out));
                }
                catch (ArgumentException e) { _error[ids[i]] = e; }
            }
        }
        catch (Exception e)
        {
            // the model itself failed (a non-finite hidden state): every stream of the batch sees it, each its own exception
            foreach (int id in ids) _error[id] = new InvalidOperationException($"the shared step of model {ModelPath} failed: {e.Message}", e);
        }
        foreach (int id in ids) _done[id] = true;
        _batches++;
        _streamSteps += n;
        _largest = Math.Max(_largest, n);
    }

    /// <summary>Holds the combiner lock: the streams' steps queue up behind it (tests: to make a batch of a known size).</summary>
    internal IDisposable Hold()
    {
        Monitor.Enter(_combine);
        return new Release(_combine);
    }

    /// <summary>Streams waiting for the next batch.</summary>
    internal int Pending { get { lock (_queue) return _pendingCount; } }

    private sealed class Release(object gate) : IDisposable
    {
        public void Dispose() => Monitor.Exit(gate);
    }

    /// <summary>One stream's network: steps go through the batch; state is the stream's own, read and set under the combiner lock.</summary>
    private sealed class BatchSlot(SharedModelBatch owner, int slot, ForecasterShape shape) : IForecaster
    {
        public ForecasterShape Shape => shape;
        public int StateSize => shape.StateSize;

        public void Step(ReadOnlySpan<float> input, Span<float> output)
        {
            if (input.Length != shape.InputSize) throw new ArgumentException($"input has {input.Length} values, the model takes {shape.InputSize}", nameof(input));
            if (output.Length < shape.OutputSize) throw new ArgumentException($"output has room for {output.Length} values, the model gives {shape.OutputSize}", nameof(output));
            owner.Step(slot, input, output);
        }

        public void Reset() { lock (owner._combine) owner._batch!.Reset(slot); }
        public void GetState(Span<float> destination) { lock (owner._combine) owner._batch!.GetState(slot, destination); }
        public void SetState(ReadOnlySpan<float> source) { lock (owner._combine) owner._batch!.SetState(slot, source); }

        public IForecaster WithWeights(ForecasterParameters parameters) =>
            throw new NotSupportedException("a shared-model batch slot serves the model file's weights (fine-tuning off)");
    }
}
