using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using EdgeRnn.Numerics;

namespace EdgeRnn.Model.Cells
{
    /// <summary>
    /// torch.nn.LSTM's cell, pointwise part (the matrix products live in <see cref="RecurrentLayer"/>). Gate order i, f, g, o:
    ///   i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o), with a = W_ih x + b_ih + W_hh h + b_hh
    ///   c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
    /// Rows are batch rows; each row of the gate buffers is [i | f | g | o], H wide each.
    /// </summary>
    internal static class LstmCell
    {
        // gates: [B, 4H] in: W_ih x + b_ih; out: activated i, f, g, o (kept for backward)
        // gh: [B, 4H] W_hh h + b_hh
        // cPrev, cOut, hOut: [B, H]
        // tanhC: [B, H] out: tanh(c') (kept so backward need not recompute it)
        public static void Forward(Span<float> gates, ReadOnlySpan<float> gh, ReadOnlySpan<float> cPrev, Span<float> cOut, Span<float> hOut, Span<float> tanhC, int batch, int h)
        {
            for (int b = 0; b < batch; b++)
            {
                Span<float> a = gates.Slice(b * 4 * h, 4 * h);
                TensorPrimitives.Add(a, gh.Slice(b * 4 * h, 4 * h), a);
                FloatKernels.Sigmoid(a.Slice(0, 2 * h), a.Slice(0, 2 * h));
                FloatKernels.Tanh(a.Slice(2 * h, h), a.Slice(2 * h, h));
                FloatKernels.Sigmoid(a.Slice(3 * h, h), a.Slice(3 * h, h));
                ReadOnlySpan<float> i = a.Slice(0, h), f = a.Slice(h, h), g = a.Slice(2 * h, h), o = a.Slice(3 * h, h);
                Span<float> c = cOut.Slice(b * h, h), hh = hOut.Slice(b * h, h), tc = tanhC.Slice(b * h, h);
                // c' = f ⊙ c + i ⊙ g
                TensorPrimitives.Multiply(f, cPrev.Slice(b * h, h), c);
                TensorPrimitives.MultiplyAddEstimate(i, g, c, c);
                // h' = o ⊙ tanh(c')
                FloatKernels.Tanh(c, tc);
                TensorPrimitives.Multiply(o, tc, hh);
            }
        }

        /// <summary>The batch-1 streaming step's pointwise part, one tile of W.Count units at a time (see <see cref="PackedStep"/>):
        /// the same formulas as <see cref="Forward"/>, in two passes over the tiles (in L1): the four gate activations, then
        /// c' and h' with the fifth.</summary>
        // pre: [tiles, 4, L] in: pre-activations i, f, g, o per tile of L = W.Count units; out: activated gates
        // c: [tiles·L] in: c; out: c'
        // hOut: [tiles·L] out: h'
        public static void ForwardPacked<W>(Span<float> pre, Span<float> c, Span<float> hOut, int tiles) where W : struct, IFloatWidth<W>
        {
            int l = W.Count, n = 4 * l * tiles;
            if (pre.Length < n || c.Length < l * tiles || hOut.Length < l * tiles) throw new ArgumentException("spans shorter than the tiles");
            ref float pp = ref MemoryMarshal.GetReference(pre);
            ref float pc = ref MemoryMarshal.GetReference(c);
            ref float ph = ref MemoryMarshal.GetReference(hOut);
            // i, f, o = σ(a); g = tanh(a): four independent chains per body, which the core overlaps
            for (int o = 0; o < n; o += 4 * l)
            {
                W i = FloatMath.Sigmoid(W.Load(ref pp, o)), f = FloatMath.Sigmoid(W.Load(ref pp, o + l));
                W g = FloatMath.Tanh(W.Load(ref pp, o + 2 * l)), og = FloatMath.Sigmoid(W.Load(ref pp, o + 3 * l));
                W.Store(i, ref pp, o); W.Store(f, ref pp, o + l); W.Store(g, ref pp, o + 2 * l); W.Store(og, ref pp, o + 3 * l);
            }
            // c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
            for (int u = 0, o = 0; o < n; u += l, o += 4 * l)
            {
                W cn = W.MultiplyAddEstimate(W.Load(ref pp, o), W.Load(ref pp, o + 2 * l), W.Load(ref pp, o + l) * W.Load(ref pc, u));
                W.Store(cn, ref pc, u);
                W.Store(W.Load(ref pp, o + 3 * l) * FloatMath.Tanh(cn), ref ph, u);
            }
        }

        // dPre: [B, 4H] out: gradient of the gate pre-activations a (the same for the ih and hh products)
        // gates: [B, 4H] activated i, f, g, o from Forward; cPrev, tanhC: [B, H] c and tanh(c') from Forward
        // dh: [B, H] gradient reaching h' (from the layer above / head and from step t+1)
        // dc: [B, H] in: gradient reaching c' from step t+1; out: gradient reaching c (for step t-1)
        public static void Backward(Span<float> dPre, ReadOnlySpan<float> gates, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> tanhC, ReadOnlySpan<float> dh, Span<float> dc, int batch, int h)
        {
            for (int b = 0; b < batch; b++)
            {
                int r = b * 4 * h, s = b * h;
                for (int j = 0; j < h; j++)
                {
                    float i = gates[r + j], f = gates[r + h + j], g = gates[r + 2 * h + j], o = gates[r + 3 * h + j];
                    float tc = tanhC[s + j];
                    float dhj = dh[s + j];
                    // h' = o ⊙ tanh(c')
                    float dO = dhj * tc;
                    float dC = dc[s + j] + dhj * o * (1f - tc * tc);
                    // c' = f ⊙ c + i ⊙ g
                    float dI = dC * g, dF = dC * cPrev[s + j], dG = dC * i;
                    dc[s + j] = dC * f;
                    // through σ and tanh
                    dPre[r + j] = dI * i * (1f - i);
                    dPre[r + h + j] = dF * f * (1f - f);
                    dPre[r + 2 * h + j] = dG * (1f - g * g);
                    dPre[r + 3 * h + j] = dO * o * (1f - o);
                }
            }
        }
    }
}

namespace EdgeRnn.Model.Quantized
{
    // LSTM: the int8 forecaster's fused epilogue for this cell (the dispatch, Pre and the fields stay in
    // Quantized/Int8Forecaster.cs), kept beside the float forward and backward above.
    public sealed partial class Int8Forecaster
    {
        private readonly ref partial struct Epilogue
        {
            /// <summary>i, f, o pre-halved, so σ = 0.5·tanh + 0.5; c' = f·c + i·g, h' = o·tanh(c'). Returns the units
            /// whose h went into <paramref name="range"/>.
            /// Two passes over independent blocks, each evaluating four tanh chains side by side (Tanh4), so the out-of-order
            /// core always has independent work; each pass is its own method, so Native AOT's inliner budget (per method it
            /// compiles) covers every lane operation of it.</summary>
            private int Lstm<V>(int end, int units, ref HRange<V> range) where V : struct, ILanes8<V>
            {
                LstmGates<V>(end);
                return LstmOut(end, units, ref range);
            }

            /// <summary>Pass 1: the gates, c' = f·c + i·g, and o parked in h (the old h is not needed: the products read its
            /// int8 copy).</summary>
            private void LstmGates<V>(int end) where V : struct, ILanes8<V>
            {
                V kx = V.Splat(_sIn), kh = V.Splat(_sH), cx = V.Splat(_cIn), ch = V.Splat(_cH), half = V.Splat(0.5f);
                ref int ai = ref _ai, ah = ref _ah;
                ref float si = ref _si, sh = ref _sh, b = ref _b, ui = ref _ui, uh = ref _uh;
                ref float hr = ref MemoryMarshal.GetArrayDataReference(_hs);
                ref float cr = ref MemoryMarshal.GetArrayDataReference(_cs);
                for (int j = 0, u = 0, r = 0; j < end; j++, u += 8, r += 32)
                {
                    V i = Pre(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, r, kx, kh, cx, ch);
                    V f = Pre(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, r + 8, kx, kh, cx, ch);
                    V g = Pre(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, r + 16, kx, kh, cx, ch);
                    V o = Pre(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, r + 24, kx, kh, cx, ch);
                    Activations.Tanh4(ref i, ref f, ref g, ref o);
                    V.Store((half * f + half) * V.Load(ref cr, u) + (half * i + half) * g, ref cr, u);
                    V.Store(half * o + half, ref hr, u);
                }
            }

            /// <summary>Pass 2: h' = o·tanh(c'), its range over whole blocks of real units; returns those units.</summary>
            private int LstmOut<V>(int end, int units, ref HRange<V> range) where V : struct, ILanes8<V>
            {
                ref float hr = ref MemoryMarshal.GetArrayDataReference(_hs);
                ref float cr = ref MemoryMarshal.GetArrayDataReference(_cs);
                int n = 8 * end, full = units & ~7, k = 0, tracked = 0;
                for (; k + 32 <= n; k += 32)
                {
                    V t0 = V.Load(ref cr, k), t1 = V.Load(ref cr, k + 8), t2 = V.Load(ref cr, k + 16), t3 = V.Load(ref cr, k + 24);
                    Activations.Tanh4(ref t0, ref t1, ref t2, ref t3);
                    t0 = V.Load(ref hr, k) * t0;
                    t1 = V.Load(ref hr, k + 8) * t1;
                    t2 = V.Load(ref hr, k + 16) * t2;
                    t3 = V.Load(ref hr, k + 24) * t3;
                    V.Store(t0, ref hr, k);
                    V.Store(t1, ref hr, k + 8);
                    V.Store(t2, ref hr, k + 16);
                    V.Store(t3, ref hr, k + 24);
                    if (k + 32 > full) continue;
                    range.Add(t0);
                    range.Add(t1);
                    range.Add(t2);
                    range.Add(t3);
                    tracked = k + 32;
                }
                for (; k < n; k += 8)
                {
                    V t = V.Load(ref hr, k) * Activations.Tanh(V.Load(ref cr, k));
                    V.Store(t, ref hr, k);
                    if (k + 8 > full) continue;
                    range.Add(t);
                    tracked = k + 8;
                }
                return tracked;
            }
        }
    }
}
