using System.Runtime.InteropServices;
using EdgeRnn.Numerics;

namespace EdgeRnn.Model.Cells;

/// <summary>
/// The float32 streaming step (batch 1, one time step per call) over a packed copy of the weights, the fast path of
/// <see cref="FloatForecaster"/>. Per layer, W_ih and W_hh become one matrix over [x; h] (one product per step, the two
/// biases summed), stored for <see cref="FloatKernels.PackedMatVec"/>: tiles of four vectors of L = 8 (256-bit) or 4
/// (128-bit) rows, gate-interleaved so a tile holds the four gates of the same L units (LSTM: i, f, g, o; GRU: r, z and
/// n's input and hidden parts apart; Elman: four vectors of consecutive units) and the cell's pointwise part runs per
/// tile (<c>ForwardPacked</c> in the cell files). The head is packed the same way. Hidden and output sizes are padded
/// to whole tiles with zero weights, so padding units stay exactly 0 and never reach a real unit.
/// The packing is a copy: <see cref="Pack"/> must run again when the arena changes (<see cref="FloatForecaster"/> does
/// that when <see cref="ForecasterParameters.Version"/> moves). The reference for this path is <see cref="RecurrentLayer"/>
/// at T = 1, B = 1 (the training code); tests compare the two at awkward sizes on every width.
/// All buffers are allocated in the constructor; <see cref="Step"/> allocates nothing.
/// </summary>
internal sealed class PackedStep
{
    private readonly ForecasterParameters _p;
    private readonly int _lanes, _h, _hp, _tiles, _pre, _headTiles;
    private readonly AlignedFloats[] _w, _b;    // per layer: [tiles, In_l + H, 4, L], [tiles, 4, L]
    private readonly AlignedFloats _headW, _headB; // [headTiles, H, 4, L], [headTiles, 4, L]
    private readonly float[][] _v;              // per layer: [In_l + Hp] the product's input: x, then h (padded with zeros)
    private readonly float[][] _c;              // per layer: [Hp] c (LSTM)
    private readonly float[] _g;                // [tiles·4L] the product's output
    private readonly float[] _hNew;             // [Hp]
    private readonly float[] _y;                // [headTiles·4L]

    /// <summary>The lane count this machine's widest hand-written path uses (8 or 4), or 0 when it has none.</summary>
    public static int MachineLanes => FloatKernels.PackedLanes;

    public PackedStep(ForecasterParameters p, int lanes)
    {
        if (lanes != 8 && lanes != 4) throw new ArgumentOutOfRangeException(nameof(lanes), "lanes must be 8 or 4");
        _p = p;
        _lanes = lanes;
        var s = p.Shape;
        _h = s.HiddenSize;
        bool elman = s.Arch is RnnArch.RnnTanh or RnnArch.RnnRelu;
        int perTile = elman ? 4 * lanes : lanes; // units per tile
        _hp = (_h + perTile - 1) / perTile * perTile;
        _tiles = _hp / perTile;
        _pre = _tiles * 4 * lanes;
        _w = new AlignedFloats[s.NumLayers];
        _b = new AlignedFloats[s.NumLayers];
        _v = new float[s.NumLayers][];
        _c = new float[s.NumLayers][];
        for (int l = 0; l < s.NumLayers; l++)
        {
            int k = s.LayerInputSize(l) + _h;
            _w[l] = new AlignedFloats(_tiles * k * 4 * lanes);
            _b[l] = new AlignedFloats(_pre);
            _v[l] = new float[s.LayerInputSize(l) + _hp];
            _c[l] = s.Arch == RnnArch.Lstm ? new float[_hp] : [];
        }
        _headTiles = (s.OutputSize + 4 * lanes - 1) / (4 * lanes);
        _headW = new AlignedFloats(_headTiles * _h * 4 * lanes);
        _headB = new AlignedFloats(_headTiles * 4 * lanes);
        _g = new float[_pre];
        _hNew = new float[_hp];
        _y = new float[_headTiles * 4 * lanes];
        Pack();
    }

    /// <summary>[InputSize] where the caller writes the normalized input before <see cref="Step"/>.</summary>
    public Span<float> Input => _v[0].AsSpan(0, _p.Shape.InputSize);

    /// <summary>(Re)packs every weight from the arena. Allocates nothing.</summary>
    public void Pack()
    {
        var s = _p.Shape;
        int h = _h, lanes = _lanes, tile = 4 * lanes;
        Span<int> rows0 = stackalloc int[tile], rows1 = stackalloc int[tile];
        for (int l = 0; l < s.NumLayers; l++)
        {
            int inL = s.LayerInputSize(l), k = inL + h;
            Span<float> w = _w[l].Span, b = _b[l].Span;
            for (int t = 0; t < _tiles; t++)
            {
                for (int r = 0; r < tile; r++)
                {
                    int gate = r / lanes, lane = r % lanes;
                    switch (s.Arch)
                    {
                        case RnnArch.Lstm:
                        {
                            int u = t * lanes + lane;
                            rows0[r] = rows1[r] = u < h ? gate * h + u : -1;
                            break;
                        }
                        case RnnArch.Gru:
                        {
                            // r, z: both parts summed; then n's input part alone, n's hidden part alone.
                            int u = t * lanes + lane, row = u < h ? Math.Min(gate, 2) * h + u : -1;
                            rows0[r] = gate == 3 ? -1 : row;
                            rows1[r] = gate == 2 ? -1 : row;
                            break;
                        }
                        default:
                        {
                            int u = t * tile + r;
                            rows0[r] = rows1[r] = u < h ? u : -1;
                            break;
                        }
                    }
                }
                FloatKernels.PackTile(w.Slice(t * k * tile, k * tile), b.Slice(t * tile, tile), lanes,
                    _p.WeightIh(l), _p.BiasIh(l), inL, rows0, _p.WeightHh(l), _p.BiasHh(l), h, rows1);
            }
        }
        Span<float> hw = _headW.Span, hb = _headB.Span;
        for (int t = 0; t < _headTiles; t++)
        {
            for (int r = 0; r < tile; r++) rows0[r] = t * tile + r < s.OutputSize ? t * tile + r : -1;
            FloatKernels.PackTile(hw.Slice(t * h * tile, h * tile), hb.Slice(t * tile, tile), lanes,
                _p.HeadWeight, _p.HeadBias, h, rows0, default, default, 0, default);
        }
    }

    /// <summary>One step from <see cref="Input"/>; output: [OutputSize] the head's output (normalized units).</summary>
    public void Step(Span<float> output)
    {
        if (_lanes == 8) Step<Width256>(output);
        else Step<Width128>(output);
    }

    private void Step<W>(Span<float> output) where W : struct, IFloatWidth<W>
    {
        var s = _p.Shape;
        int h = _h, last = s.NumLayers - 1;
        for (int l = 0; l <= last; l++)
        {
            int inL = s.LayerInputSize(l);
            float[] v = _v[l];
            FloatKernels.PackedMatVec(_g, _w[l].Span, _b[l].Span, v.AsSpan(0, inL + h), _tiles, inL + h, _lanes);
            switch (s.Arch)
            {
                case RnnArch.Lstm: LstmCell.ForwardPacked<W>(_g, _c[l], _hNew, _tiles); break;
                case RnnArch.Gru: GruCell.ForwardPacked<W>(_g, v.AsSpan(inL, _hp), _hNew, _tiles); break;
                default: ElmanCell.ForwardPacked<W>(_g, _hNew, s.Arch == RnnArch.RnnRelu); break;
            }
            _hNew.AsSpan(0, h).CopyTo(v.AsSpan(inL, h));
            if (l < last) _hNew.AsSpan(0, h).CopyTo(_v[l + 1]);
        }
        FloatKernels.PackedMatVec(_y, _headW.Span, _headB.Span, _v[last].AsSpan(s.LayerInputSize(last), h), _headTiles, h, _lanes);
        _y.AsSpan(0, s.OutputSize).CopyTo(output);
    }

    /// <summary>Clears h and c of every layer.</summary>
    public void Reset()
    {
        foreach (var v in _v) Array.Clear(v);
        foreach (var c in _c) Array.Clear(c);
    }

    /// <summary>destination: [StateSize] per layer h [H], then c [H] for LSTM (the forecaster's state layout).</summary>
    public void GetState(Span<float> destination)
    {
        var s = _p.Shape;
        int stride = s.Arch == RnnArch.Lstm ? 2 * _h : _h;
        for (int l = 0; l < s.NumLayers; l++)
        {
            _v[l].AsSpan(s.LayerInputSize(l), _h).CopyTo(destination.Slice(l * stride, _h));
            if (s.Arch == RnnArch.Lstm) _c[l].AsSpan(0, _h).CopyTo(destination.Slice(l * stride + _h, _h));
        }
    }

    /// <summary>source: [StateSize] as <see cref="GetState"/> writes it.</summary>
    public void SetState(ReadOnlySpan<float> source)
    {
        var s = _p.Shape;
        int stride = s.Arch == RnnArch.Lstm ? 2 * _h : _h;
        for (int l = 0; l < s.NumLayers; l++)
        {
            source.Slice(l * stride, _h).CopyTo(_v[l].AsSpan(s.LayerInputSize(l), _h));
            if (s.Arch == RnnArch.Lstm) source.Slice(l * stride + _h, _h).CopyTo(_c[l]);
        }
    }

    /// <summary>
    /// A float buffer whose first element sits on a 64-byte boundary, so no vector load of the packed weights splits a
    /// cache line (a managed array's data starts 16 bytes into the object); allocated pinned, so it never moves.
    /// </summary>
    private readonly struct AlignedFloats
    {
        private readonly float[] _store;
        private readonly int _offset, _length;

        public AlignedFloats(int length)
        {
            _length = length;
            _store = GC.AllocateArray<float>(length + 16, pinned: true);
            nint address = Marshal.UnsafeAddrOfPinnedArrayElement(_store, 0);
            _offset = (int)((64 - (address & 63)) & 63) / sizeof(float);
        }

        public Span<float> Span => _store.AsSpan(_offset, _length);
    }
}
