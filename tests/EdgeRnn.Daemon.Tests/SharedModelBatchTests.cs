using EdgeRnn.Daemon;
using EdgeRnn.Forecasting;
using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;

namespace EdgeRnn.Daemon.Tests;

public sealed class SharedModelBatchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-batch-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static ForecasterParameters Net(int inputs, int hidden, int outputs)
    {
        var p = new ForecasterParameters(new ForecasterShape(RnnArch.Lstm, inputs, hidden, 1, outputs));
        var rng = new Random(11);
        float bound = 2f / MathF.Sqrt(hidden);
        for (int i = 0; i < p.Arena.Length; i++) p.Arena[i] = (float)(rng.NextDouble() * 2 - 1) * bound;
        return p;
    }

    /// <summary>A forecaster file: LSTM over 2 channels (target "value" first), horizon 3.</summary>
    private string SaveModel()
    {
        var model = new HybridModel(Net(2, 16, 3), null, ["value", "aux"], ["value"], 3, InputTransform.Level, [20f, 0f], [5f, 1f], [1f, 1f], TimeSpan.FromSeconds(10));
        model.WriteMetadata("batched", "1");
        string path = Path.Combine(_dir, "m.safetensors");
        model.Save(path);
        return path;
    }

    private static float Sample(int stream, int t, int channel) =>
        channel == 0 ? 20f + (stream + 1) * 3f * MathF.Sin(0.1f * t + stream) : MathF.Cos(0.05f * t * (stream + 2));

    private static List<OutboxMessage> Drain(Outbox o)
    {
        var msgs = new List<OutboxMessage>();
        while (o.Peek() is { } m) { msgs.Add(m); o.Ack(m); }
        return msgs;
    }

    /// <summary>
    /// Two int8 streams of one model file with fine-tuning off share a batch; every sample of both is stepped as one batch of
    /// two (the test holds the combiner until both wait). Their published forecasts (every payload byte: values, intervals,
    /// seq) and their checkpoints are the same as two streams each with its own network.
    /// </summary>
    [Fact]
    public void Two_streams_sharing_a_model_publish_the_same_forecasts_batched_as_unbatched()
    {
        string model = SaveModel();
        ResolvedStream a = new("a", "test", model, Precision.Int8, false, null), b = new("b", "test", model, Precision.Int8, false, null);
        ResolvedStream tuned = new("t", "test", model, Precision.Int8, true, null), single = new("f", "test", model, Precision.Float32, false, null);
        var batches = new SharedModelBatches([a, b, tuned, single]);
        var group = Assert.Single(batches.Groups.Values);
        Assert.Equal(3, group.Count); // a, b and the fine-tuned stream's frozen network; not the float32 stream
        const int Steps = 120;

        byte[][] checkpoints(StreamForecaster fa, StreamForecaster fb) => [Checkpoint(fa), Checkpoint(fb)];

        // unbatched: each stream its own network, stepped in turn
        List<OutboxMessage> want;
        byte[][] wantCk;
        using (var outbox = new Outbox(Path.Combine(_dir, "o1"), 1 << 22, TimeSpan.Zero))
        using (var fa = a.LoadForecaster(false))
        using (var fb = b.LoadForecaster(false))
        {
            var pa = new StreamPipeline(a, fa, outbox, "edgernn/gw/a/forecast", 600, new ListLogger());
            var pb = new StreamPipeline(b, fb, outbox, "edgernn/gw/b/forecast", 600, new ListLogger());
            for (int t = 0; t < Steps; t++)
            {
                pa.OnSample("a", 1_000_000 + t * 10_000L, [Sample(0, t, 0), Sample(0, t, 1)]);
                pb.OnSample("b", 1_000_000 + t * 10_000L, [Sample(1, t, 0), Sample(1, t, 1)]);
            }
            want = Drain(outbox);
            wantCk = checkpoints(fa, fb);
        }

        // batched: both streams' samples arrive together, from two threads
        List<OutboxMessage> got;
        byte[][] gotCk;
        using (var outbox = new Outbox(Path.Combine(_dir, "o2"), 1 << 22, TimeSpan.Zero))
        using (var fa = batches.Load(a))
        using (var fb = batches.Load(b))
        {
            var pa = new StreamPipeline(a, fa, outbox, "edgernn/gw/a/forecast", 600, new ListLogger());
            var pb = new StreamPipeline(b, fb, outbox, "edgernn/gw/b/forecast", 600, new ListLogger());
            for (int t = 0; t < Steps; t++)
            {
                int step = t;
                Thread ta, tb;
                using (group.Hold())
                {
                    ta = Run(() => pa.OnSample("a", 1_000_000 + step * 10_000L, [Sample(0, step, 0), Sample(0, step, 1)]));
                    tb = Run(() => pb.OnSample("b", 1_000_000 + step * 10_000L, [Sample(1, step, 0), Sample(1, step, 1)]));
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    while (group.Pending < 2)
                    {
                        if (sw.Elapsed > TimeSpan.FromSeconds(20)) throw new TimeoutException($"step {t}: {group.Pending} streams queued");
                        Thread.Yield();
                    }
                }
                ta.Join();
                tb.Join();
            }
            got = Drain(outbox);
            gotCk = checkpoints(fa, fb);
        }
        var (batchSteps, streamSteps, largest) = group.Counters;
        Assert.Equal(2, largest);
        Assert.Equal(2 * batchSteps, streamSteps); // every batch held both streams
        Assert.True(batchSteps >= Steps - 1, $"{batchSteps} batch steps");
        // the same counters reach /metrics, labelled by the model file
        string text = new DaemonMetrics { SharedBatches = [group] }.Render();
        string modelLabel = group.ModelPath.Replace("\\", "\\\\", StringComparison.Ordinal);
        Assert.Contains($"edgernn_shared_batch_steps_total{{model=\"{modelLabel}\"}} {batchSteps}\n", text);
        Assert.Contains($"edgernn_shared_batch_stream_steps_total{{model=\"{modelLabel}\"}} {streamSteps}\n", text);
        Assert.Contains($"edgernn_shared_batch_largest{{model=\"{modelLabel}\"}} 2\n", text);
        Assert.DoesNotContain("edgernn_shared_batch", new DaemonMetrics().Render());

        Assert.True(want.Count > 2 * (Steps - 30), $"{want.Count} forecasts");
        foreach (string s in new[] { "a", "b" })
        {
            var w = want.Where(m => m.Stream == s).ToList();
            var g = got.Where(m => m.Stream == s).ToList();
            Assert.Equal(w.Select(m => m.Seq), g.Select(m => m.Seq));
            for (int i = 0; i < w.Count; i++)
                Assert.True(w[i].Payload.AsSpan().SequenceEqual(g[i].Payload), $"stream {s} seq {w[i].Seq}:\n{System.Text.Encoding.UTF8.GetString(w[i].Payload)}\n{System.Text.Encoding.UTF8.GetString(g[i].Payload)}");
        }
        Assert.Equal(wantCk[0], gotCk[0]);
        Assert.Equal(wantCk[1], gotCk[1]);
        Assert.NotEqual(wantCk[0], wantCk[1]);
    }

    /// <summary>A fine-tuned int8 stream keeps its own tuned network; its frozen reference expert (the shipped weights) is a
    /// slot of the model's batch, and what it serves is unchanged (before the learner's first update, both ways equal).</summary>
    [Fact]
    public void A_fine_tuned_streams_frozen_network_is_a_batch_slot()
    {
        string model = SaveModel();
        ResolvedStream tuned = new("t", "test", model, Precision.Int8, true, null), other = new("o", "test", model, Precision.Int8, false, null);
        var batches = new SharedModelBatches([tuned, other]);
        var group = Assert.Single(batches.Groups.Values);
        using var batched = batches.Load(tuned);
        using var alone = tuned.LoadForecaster(true);
        Assert.Contains("network_frozen", batched.ExpertNames);
        var f1 = new float[3];
        var f2 = new float[3];
        for (int t = 0; t < 40; t++) // the learner's first update needs 64 + 3 rows
        {
            float[] x = [Sample(0, t, 0), Sample(0, t, 1)];
            batched.Observe(x, f1);
            alone.Observe(x, f2);
            Assert.Equal(f2, f1);
            Assert.True(alone.ExpertForecasts.SequenceEqual(batched.ExpertForecasts));
        }
        Assert.Equal(40, group.Counters.StreamSteps);
    }

    private static Thread Run(Action a)
    {
        var t = new Thread(() => a()) { IsBackground = true };
        t.Start();
        return t;
    }

    private static byte[] Checkpoint(StreamForecaster f)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) f.WriteCheckpoint(w);
        return ms.ToArray();
    }

    /// <summary>A refused input (non-finite after normalization) fails only its own stream's step; the other stream of the
    /// same batch gets the output a network of its own gives.</summary>
    [Fact]
    public void A_refused_input_fails_only_its_own_stream()
    {
        var p = Net(2, 8, 2);
        var group = new SharedModelBatch("m", 2);
        IForecaster s0 = group.Slot(0, p), s1 = group.Slot(1, p);
        Assert.IsNotType<Int8Forecaster>(s0);
        var alone = new Int8Forecaster(p);
        var want = new float[2];
        alone.Step([0.5f, -1f], want);
        var y0 = new float[2];
        Thread t0, t1;
        Exception? refused = null, other0 = null;
        using (group.Hold())
        {
            t0 = Run(() => { try { s0.Step([0.5f, -1f], y0); } catch (Exception e) { other0 = e; } });
            t1 = Run(() => { try { s1.Step([float.PositiveInfinity, 1f], new float[2]); } catch (Exception e) { refused = e; } });
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (group.Pending < 2) { Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20)); Thread.Yield(); }
        }
        t0.Join();
        t1.Join();
        Assert.Null(other0);
        Assert.IsType<ArgumentException>(refused);
        Assert.Equal(want, y0);
        // the refused stream was not stepped: its state is still zero
        var st = new float[s1.StateSize];
        s1.GetState(st);
        Assert.All(st, v => Assert.Equal(0f, v));
        // different parameters for a later slot (the file changed between loads): a network of its own
        var other = p.Clone();
        other.Arena[0] += 1f;
        Assert.IsType<Int8Forecaster>(group.Slot(1, other));
        Assert.Throws<NotSupportedException>(() => s0.WithWeights(p));
    }
}
