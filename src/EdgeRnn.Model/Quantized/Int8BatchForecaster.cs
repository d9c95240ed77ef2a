using System.Runtime.Intrinsics;
using EdgeRnn.Numerics;
using EdgeRnn.Numerics.Int8;

namespace EdgeRnn.Model.Quantized;

public sealed partial class Int8Forecaster
{
    /// <summary>
    /// Many streams of one int8 model stepped together: each stream keeps its own recurrent state (h, c and h's int8 copy
    /// with its own per-step centre and scale), and a step of several streams runs each layer's two products as one
    /// matrix × many-vectors product (<see cref="Int8BatchKernels"/>), so the weights are read once per
    /// <see cref="Int8BatchKernels.TileStreams"/> streams instead of once per stream. Everything else is the single-stream
    /// forecaster's own code, run per stream: input normalization and quantization, the epilogue of
    /// <see cref="Int8Forecaster"/> (the cells' parts in Cells/*Cell.cs), h's quantization, the float head. The integer
    /// sums are exact on every path, so stream b's outputs are bit-identical to an <see cref="Int8Forecaster"/> of the
    /// same model fed stream b's inputs (the tests check it per architecture, with streams of different scales).
    /// Streams are stepped in chunks of <see cref="ChunkStreams"/>: the accumulators of a chunk stay in L1 between the
    /// product and the epilogue. Weights are fixed (fine-tuned streams have weights of their own, so nothing to share).
    /// Step allocates nothing. Not thread-safe: one caller steps the batch.
    /// </summary>
    public sealed class Batch
    {
        /// <summary>Streams per chunk: two weight passes of the batch kernel.</summary>
        public const int ChunkStreams = 2 * Int8BatchKernels.TileStreams;

        private readonly Int8Weights _w;
        private readonly Int8Kernels _k;
        private readonly Int8BatchKernels _bk;
        private readonly EpilogueLanes _lanes;
        private readonly bool _softmax;
        private readonly int _layers, _rows, _hp;
        // per stream s and layer l, at [s·L + l]: h and c [UB·8] (c: LSTM only), h's int8 copy [UB·8], h ≈ centre + scale·q
        private readonly float[][] _h, _c;
        private readonly sbyte[][] _hq;
        private readonly float[] _hScale, _hCentre;
        private readonly int[] _all;   // 0 .. Count − 1
        private readonly int[] _stamp; // per stream: the last call that stepped it (a stream twice in one call is refused)
        private int _call;
        // per position i of a call: the normalized input [In], its int8 copy, its scale and centre (then the layer input's)
        private readonly float[][] _x;
        private readonly sbyte[][] _xq;
        private readonly float[] _sIn, _cIn;
        // per chunk slot c: the accumulators [rows]
        private readonly int[][] _accIh, _accHh;
        private readonly int[] _qx, _qh; // [ChunkStreams, quads] the chunk's prepared vectors
        private readonly float[] _out, _scratch;

        public ForecasterShape Shape { get; }
        /// <summary>Streams in the batch (indices 0 .. Count − 1).</summary>
        public int Count { get; }
        public Int8Weights Weights => _w;
        public KernelPath Path => _bk.Path;
        public int StateSize => Shape.StateSize;

        public Batch(ForecasterParameters p, int streams) : this(p, streams, Int8Kernels.ActivePath, EpilogueLanes.Auto) { }

        /// <param name="path">the integer kernel path (tests, benchmarks force one); <paramref name="lanes"/>: the epilogue's width</param>
        public Batch(ForecasterParameters p, int streams, KernelPath path, EpilogueLanes lanes)
        {
            ArgumentNullException.ThrowIfNull(p);
            if (streams < 1) throw new ArgumentOutOfRangeException(nameof(streams), streams, "a batch needs at least one stream");
            if (lanes == EpilogueLanes.Vector256 && !Vector256.IsHardwareAccelerated)
                throw new PlatformNotSupportedException("256-bit vectors are not accelerated on this CPU");
            _lanes = lanes != EpilogueLanes.Auto ? lanes : Vector256.IsHardwareAccelerated ? EpilogueLanes.Vector256 : EpilogueLanes.Vector128x2;
            _bk = Int8BatchKernels.For(path);
            _k = path.Kernels;
            _w = Int8Weights.Quantize(p);
            _softmax = OutputHead.Activation(p) == OutputActivation.Softmax;
            var s = Shape = p.Shape;
            Count = streams;
            _layers = s.NumLayers;
            _hp = _w.UnitBlocks * 8;
            _rows = _hp * s.Gates;
            _h = new float[streams * _layers][];
            _c = new float[streams * _layers][];
            _hq = new sbyte[streams * _layers][];
            for (int i = 0; i < _h.Length; i++)
            {
                _h[i] = new float[_hp];
                _c[i] = s.Arch == RnnArch.Lstm ? new float[_hp] : [];
                _hq[i] = new sbyte[_hp];
            }
            _hScale = new float[streams * _layers];
            _hCentre = new float[streams * _layers];
            _stamp = new int[streams];
            _all = Enumerable.Range(0, streams).ToArray();
            _x = new float[streams][];
            _xq = new sbyte[streams][];
            _sIn = new float[streams];
            _cIn = new float[streams];
            for (int i = 0; i < streams; i++)
            {
                _x[i] = new float[s.InputSize];
                _xq[i] = new sbyte[s.InputSize];
            }
            _accIh = new int[ChunkStreams][];
            _accHh = new int[ChunkStreams][];
            for (int c = 0; c < ChunkStreams; c++)
            {
                _accIh[c] = new int[_rows];
                _accHh[c] = new int[_rows];
            }
            int qh = Int8Kernels.QuadCount(s.HiddenSize);
            _qh = new int[ChunkStreams * qh];
            _qx = new int[ChunkStreams * Math.Max(Int8Kernels.QuadCount(s.InputSize), qh)];
            _out = new float[_w.OutBlocks * 8];
            _scratch = s.Arch == RnnArch.Gru ? new float[2 * _hp] : [];
        }

        /// <summary>
        /// One time step of the streams listed: stream streams[i] takes inputs[i·In .. +In] and writes its forecast to
        /// outputs[i·O .. +O]. Streams not listed keep their state. A stream may appear once per call.
        /// </summary>
        /// <param name="streams">[n] distinct stream indices</param>
        /// <param name="inputs">[n, In] raw inputs</param>
        /// <param name="outputs">[n, O]</param>
        public void Step(ReadOnlySpan<int> streams, ReadOnlySpan<float> inputs, Span<float> outputs)
        {
            var s = Shape;
            int n = streams.Length;
            if (inputs.Length != n * s.InputSize) throw new ArgumentException($"inputs has {inputs.Length} values, {n} streams of {s.InputSize} inputs need {n * s.InputSize}", nameof(inputs));
            if (outputs.Length < n * s.OutputSize) throw new ArgumentException($"outputs has room for {outputs.Length} values, {n} streams of {s.OutputSize} outputs need {n * s.OutputSize}", nameof(outputs));
            int call = ++_call;
            foreach (int i in streams)
            {
                if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(streams), i, $"the batch has streams 0 .. {Count - 1}");
                if (_stamp[i] == call) throw new ArgumentException($"stream {i} appears twice in one step", nameof(streams));
                _stamp[i] = call;
            }
            switch (_lanes)
            {
                case EpilogueLanes.Vector256 when Vector256.IsHardwareAccelerated: Run<Width256>(streams, inputs, outputs); break;
                case EpilogueLanes.Vector128x2: Run<Lanes128x2>(streams, inputs, outputs); break;
                default: Run<LanesScalar>(streams, inputs, outputs); break;
            }
        }

        /// <summary>Every input is normalized, checked and quantized first, so a refused input leaves every stream unstepped.</summary>
        private void Run<V>(ReadOnlySpan<int> streams, ReadOnlySpan<float> inputs, Span<float> outputs) where V : struct, ILanes8<V>
        {
            int n = streams.Length, inSize = Shape.InputSize, outSize = Shape.OutputSize;
            for (int i = 0; i < n; i++)
            {
                NormalizeInput<V>(inputs.Slice(i * inSize, inSize), _w.InMean, _w.InStd, _x[i]);
                var (lo, hi) = Int8Quantize.MinMax(_x[i]);
                if (!Int8Quantize.TryQuantizeCentred(_x[i], lo, hi, out _cIn[i], out _sIn[i], _xq[i]))
                    throw new ArgumentException($"the input of stream {streams[i]} holds a non-finite value (after normalization), or values too far apart for float32", nameof(inputs));
            }
            for (int first = 0; first < n; first += ChunkStreams)
            {
                int m = Math.Min(ChunkStreams, n - first);
                Chunk<V>(streams.Slice(first, m), first, outputs.Slice(first * outSize, m * outSize));
            }
        }

        /// <summary>Every stream, in order: inputs [Count, In], outputs [Count, O].</summary>
        public void StepAll(ReadOnlySpan<float> inputs, Span<float> outputs) => Step(_all, inputs, outputs);

        /// <summary>Streams ids (at most <see cref="ChunkStreams"/>), whose prepared inputs sit at positions first.. of the call.</summary>
        private void Chunk<V>(ReadOnlySpan<int> ids, int first, Span<float> outputs) where V : struct, ILanes8<V>
        {
            var s = Shape;
            int m = ids.Length, hs = s.HiddenSize;
            var accIh = _accIh.AsSpan(0, m);
            var accHh = _accHh.AsSpan(0, m);
            for (int l = 0; l < _layers; l++)
            {
                var L = _w.Layers[l];
                int qh = Int8Kernels.QuadCount(hs), qx = Int8Kernels.QuadCount(L.Wih.Cols);
                for (int c = 0; c < m; c++) _k.PrepareQuads(_hq[ids[c] * _layers + l].AsSpan(0, hs), _qh.AsSpan(c * qh, qh));
                _bk.MatMulPacked(L.Whh, _qh.AsSpan(0, m * qh), accHh);
                for (int c = 0; c < m; c++)
                {
                    ReadOnlySpan<sbyte> xq = l == 0 ? _xq[first + c] : _hq[ids[c] * _layers + l - 1].AsSpan(0, hs);
                    _k.PrepareQuads(xq, _qx.AsSpan(c * qx, qx));
                }
                _bk.MatMulPacked(L.Wih, _qx.AsSpan(0, m * qx), accIh);
                for (int c = 0; c < m; c++)
                {
                    int i = ids[c] * _layers + l;
                    var (hLo, hHi) = new Epilogue(L, _accIh[c], _accHh[c], _sIn[first + c], _cIn[first + c], _hScale[i], _hCentre[i], _h[i], _c[i], _scratch).Run<V>(s.Arch, _w.UnitBlocks, hs);
                    QuantizeH(i, l, hLo, hHi);
                    _sIn[first + c] = _hScale[i];
                    _cIn[first + c] = _hCentre[i];
                }
            }
            for (int c = 0; c < m; c++)
            {
                var y = outputs.Slice(c * s.OutputSize, s.OutputSize);
                Head<V>(_w, _h[ids[c] * _layers + _layers - 1], hs, _out);
                Denormalize<V>(_out, _w.OutStd, _w.OutMean, y);
                if (_softmax) OutputHead.Softmax(y);
            }
        }

        /// <summary>h's int8 copy about its per-step range [lo, hi] (the epilogue reports it), as <see cref="Int8Forecaster"/> makes it.</summary>
        private void QuantizeH(int i, int l, float lo, float hi)
        {
            if (!Int8Quantize.TryQuantizeCentred(_h[i].AsSpan(0, Shape.HiddenSize), lo, hi, out _hCentre[i], out _hScale[i], _hq[i]))
                throw new InvalidOperationException($"hidden state of layer {l} of stream {i / _layers} is not finite (ReLU RNN overflow?)");
        }

        /// <summary>Zero state for one stream.</summary>
        public void Reset(int stream)
        {
            CheckStream(stream);
            for (int l = 0; l < _layers; l++)
            {
                int i = stream * _layers + l;
                Array.Clear(_h[i]);
                Array.Clear(_c[i]);
                Array.Clear(_hq[i]);
                _hScale[i] = 0;
                _hCentre[i] = 0;
            }
        }

        /// <summary>One stream's state in <see cref="Int8Forecaster.GetState"/>'s layout: per layer h [H], then c [H] for LSTM.</summary>
        public void GetState(int stream, Span<float> destination)
        {
            CheckStream(stream);
            if (destination.Length < StateSize) throw new ArgumentException($"state needs {StateSize} floats", nameof(destination));
            int h = Shape.HiddenSize, o = 0;
            for (int l = 0; l < _layers; l++)
            {
                int i = stream * _layers + l;
                _h[i].AsSpan(0, h).CopyTo(destination[o..]);
                o += h;
                if (Shape.Arch != RnnArch.Lstm) continue;
                _c[i].AsSpan(0, h).CopyTo(destination[o..]);
                o += h;
            }
        }

        /// <summary>Sets one stream's state (the layout of <see cref="GetState"/>), as <see cref="Int8Forecaster.SetState"/> does.</summary>
        public void SetState(int stream, ReadOnlySpan<float> source)
        {
            CheckStream(stream);
            if (source.Length != StateSize) throw new ArgumentException($"state has {source.Length} floats, expected {StateSize}", nameof(source));
            foreach (float f in source) if (!float.IsFinite(f)) throw new ArgumentException("state holds a non-finite value", nameof(source));
            int h = Shape.HiddenSize, o = 0;
            for (int l = 0; l < _layers; l++)
            {
                int i = stream * _layers + l;
                source.Slice(o, h).CopyTo(_h[i]);
                o += h;
                if (Shape.Arch == RnnArch.Lstm)
                {
                    source.Slice(o, h).CopyTo(_c[i]);
                    o += h;
                }
                var (lo, hi) = Int8Quantize.MinMax(_h[i].AsSpan(0, h));
                QuantizeH(i, l, lo, hi);
            }
        }

        private void CheckStream(int stream)
        {
            if ((uint)stream >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(stream), stream, $"the batch has streams 0 .. {Count - 1}");
        }
    }
}
