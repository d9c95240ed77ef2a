using EdgeRnn.Numerics;

namespace EdgeRnn.Model.Cells;

/// <summary>
/// One recurrent layer over T steps for B independent rows, time-major, forward and backward side by side.
/// The input-side products for all T steps are one matrix-matrix product (they do not depend on the recurrence), as are
/// all weight gradients in backward; only the hidden-side product stays inside the time loop. Its T = 1, B = 1 case is the
/// reference the float forecaster's packed streaming step (<see cref="PackedStep"/>) is tested against.
/// </summary>
internal static class RecurrentLayer
{
    /// <summary>Runs steps 1..T.</summary>
    // x: [T*B, In] layer inputs, time-major
    // hs: [(T+1)*B, H] in: hs[0] the initial h; out: hs[t+1] = h after step t
    // cs: [(T+1)*B, H] the same for c (LSTM; empty otherwise)
    // gates: [T*B, G*H] out: activated gates (kept for backward)
    // extra: [T*B, H] out: GRU's W_hn h + b_hn, LSTM's tanh(c') (empty for RNN)
    // scratch: [B, G*H]
    // pack: empty (the unpacked products: the streaming reference), or [PackSize(shape, lanes)] scratch for packed
    //       copies of W_ih and W_hh (<see cref="FloatKernels.PackedMatMul"/>: no horizontal sums, each weight read once
    //       per row instead of once per dot product), packed again on every call since the weights may have moved
    public static void Forward(ForecasterParameters p, int layer, int steps, int batch,
        ReadOnlySpan<float> x, Span<float> hs, Span<float> cs, Span<float> gates, Span<float> extra, Span<float> scratch,
        Span<float> pack = default, int lanes = 0)
    {
        var shape = p.Shape;
        int h = shape.HiddenSize, gh = shape.Gates * h, bh = batch * h, bg = batch * gh, inSize = shape.LayerInputSize(layer);
        bool packed = !pack.IsEmpty;
        if (packed)
        {
            FloatKernels.PackRows(pack, p.WeightIh(layer), p.BiasIh(layer), gh, inSize, lanes);
            FloatKernels.PackedMatMul(gates.Slice(0, steps * bg), x.Slice(0, steps * batch * inSize), pack, steps * batch, gh, inSize, lanes);
            FloatKernels.PackRows(pack, p.WeightHh(layer), p.BiasHh(layer), gh, h, lanes);
        }
        else
        {
            FloatKernels.MatMulTransposed(gates.Slice(0, steps * bg), x.Slice(0, steps * batch * inSize),
                p.WeightIh(layer), p.BiasIh(layer), steps * batch, gh, inSize);
        }
        ReadOnlySpan<float> whh = p.WeightHh(layer), bhh = p.BiasHh(layer);
        Span<float> ghs = scratch.Slice(0, bg);
        for (int t = 0; t < steps; t++)
        {
            ReadOnlySpan<float> hPrev = hs.Slice(t * bh, bh);
            Span<float> hOut = hs.Slice((t + 1) * bh, bh);
            Span<float> g = gates.Slice(t * bg, bg);
            if (packed) FloatKernels.PackedMatMul(ghs, hPrev, pack, batch, gh, h, lanes);
            else FloatKernels.MatMulTransposed(ghs, hPrev, whh, bhh, batch, gh, h);
            switch (shape.Arch)
            {
                case RnnArch.Lstm:
                    LstmCell.Forward(g, ghs, cs.Slice(t * bh, bh), cs.Slice((t + 1) * bh, bh), hOut, extra.Slice(t * bh, bh), batch, h);
                    break;
                case RnnArch.Gru:
                    GruCell.Forward(g, ghs, extra.Slice(t * bh, bh), hPrev, hOut, batch, h);
                    break;
                default:
                    ElmanCell.Forward(g, ghs, hOut, shape.Arch == RnnArch.RnnRelu);
                    break;
            }
        }
    }

    /// <summary>Scratch <see cref="Forward"/> needs for its packed products at a lane count (0: none).</summary>
    public static int PackSize(ForecasterShape shape, int lanes)
    {
        if (lanes == 0) return 0;
        int gh = shape.Gates * shape.HiddenSize, k = shape.HiddenSize;
        for (int l = 0; l < shape.NumLayers; l++) k = Math.Max(k, shape.LayerInputSize(l));
        return FloatKernels.PackedRowsSize(gh, k, lanes);
    }

    /// <summary>
    /// Back-propagates through steps T..1 and accumulates (+=) this layer's parameter gradients into grad.
    /// The gradient reaching the initial state is left in dhRec / dcRec (truncated BPTT drops it: the carried state is
    /// detached, as with .detach() in PyTorch).
    /// </summary>
    // dhs: [T*B, H] gradient reaching each output h from above (next layer or head)
    // dx: [T*B, In] += gradient reaching the inputs (empty for layer 0, which needs none)
    // x, hs, cs, gates, extra: as saved by Forward
    // dPreIh: [T*B, G*H] scratch; dPreHh: [T*B, G*H] scratch (GRU only; empty otherwise)
    // dhRec, dcRec, dhTotal: [B, H] scratch
    public static void Backward(ForecasterParameters p, ForecasterParameters grad, int layer, int steps, int batch,
        ReadOnlySpan<float> dhs, Span<float> dx,
        ReadOnlySpan<float> x, ReadOnlySpan<float> hs, ReadOnlySpan<float> cs, ReadOnlySpan<float> gates, ReadOnlySpan<float> extra,
        Span<float> dPreIh, Span<float> dPreHh, Span<float> dhRec, Span<float> dcRec, Span<float> dhTotal)
    {
        var shape = p.Shape;
        int h = shape.HiddenSize, gh = shape.Gates * h, bh = batch * h, bg = batch * gh, inSize = shape.LayerInputSize(layer);
        ReadOnlySpan<float> whh = p.WeightHh(layer);
        bool gru = shape.Arch == RnnArch.Gru;
        dhRec = dhRec.Slice(0, bh); dcRec = dcRec.Slice(0, bh); dhTotal = dhTotal.Slice(0, bh);
        dhRec.Clear();
        dcRec.Clear();
        for (int t = steps - 1; t >= 0; t--)
        {
            // h_t feeds both the layer above at t and this layer at t+1.
            System.Numerics.Tensors.TensorPrimitives.Add(dhs.Slice(t * bh, bh), dhRec, dhTotal);
            Span<float> dIh = dPreIh.Slice(t * bg, bg);
            ReadOnlySpan<float> g = gates.Slice(t * bg, bg);
            Span<float> dHhT;
            switch (shape.Arch)
            {
                case RnnArch.Lstm:
                    LstmCell.Backward(dIh, g, cs.Slice(t * bh, bh), extra.Slice(t * bh, bh), dhTotal, dcRec, batch, h);
                    dhRec.Clear();
                    dHhT = dIh;
                    break;
                case RnnArch.Gru:
                    dHhT = dPreHh.Slice(t * bg, bg);
                    GruCell.Backward(dIh, dHhT, dhRec, g, extra.Slice(t * bh, bh), hs.Slice(t * bh, bh), dhTotal, batch, h);
                    break;
                default:
                    ElmanCell.Backward(dIh, hs.Slice((t + 1) * bh, bh), dhTotal, shape.Arch == RnnArch.RnnRelu);
                    dhRec.Clear();
                    dHhT = dIh;
                    break;
            }
            // a_hh = W_hh h_{t-1} + b_hh  →  dh_{t-1} += dA_hh · W_hh
            FloatKernels.MatMulAccumulate(dhRec, dHhT, whh, batch, gh, h);
        }

        int rows = steps * batch;
        ReadOnlySpan<float> dIhAll = dPreIh.Slice(0, rows * gh);
        ReadOnlySpan<float> dHhAll = gru ? dPreHh.Slice(0, rows * gh) : dIhAll;
        // a_ih = W_ih x + b_ih
        FloatKernels.MatMulTransposedLeftAccumulate(grad.WeightIh(layer), dIhAll, x.Slice(0, rows * inSize), rows, gh, inSize);
        FloatKernels.SumRowsAccumulate(grad.BiasIh(layer), dIhAll, rows, gh);
        // a_hh = W_hh h_{t-1} + b_hh, with h_{t-1} = hs[0..T-1]
        FloatKernels.MatMulTransposedLeftAccumulate(grad.WeightHh(layer), dHhAll, hs.Slice(0, rows * h), rows, gh, h);
        FloatKernels.SumRowsAccumulate(grad.BiasHh(layer), dHhAll, rows, gh);
        if (!dx.IsEmpty) FloatKernels.MatMulAccumulate(dx.Slice(0, rows * inSize), dIhAll, p.WeightIh(layer), rows, gh, inSize);
    }
}
