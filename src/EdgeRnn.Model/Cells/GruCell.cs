using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using EdgeRnn.Numerics;

namespace EdgeRnn.Model.Cells
{
    /// <summary>
    /// torch.nn.GRU's cell, pointwise part. Gate order r, z, n:
    ///   r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz)
    ///   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h
    /// Because r multiplies the hidden-side n term only, the ih and hh pre-activations stay apart here.
    /// </summary>
    internal static class GruCell
    {
        // gates: [B, 3H] in: W_ih x + b_ih; out: activated r, z, n (kept for backward)
        // gh: [B, 3H] W_hh h + b_hh
        // ghn: [B, H] out: W_hn h + b_hn (kept for backward: it is what r multiplied)
        // hPrev, hOut: [B, H]
        public static void Forward(Span<float> gates, ReadOnlySpan<float> gh, Span<float> ghn, ReadOnlySpan<float> hPrev, Span<float> hOut, int batch, int h)
        {
            for (int b = 0; b < batch; b++)
            {
                Span<float> a = gates.Slice(b * 3 * h, 3 * h);
                ReadOnlySpan<float> ghb = gh.Slice(b * 3 * h, 3 * h);
                Span<float> rz = a.Slice(0, 2 * h), n = a.Slice(2 * h, h);
                TensorPrimitives.Add(rz, ghb.Slice(0, 2 * h), rz);
                FloatKernels.Sigmoid(rz, rz);
                Span<float> ghnb = ghn.Slice(b * h, h);
                ghb.Slice(2 * h, h).CopyTo(ghnb);
                // n = tanh(a_in + r ⊙ (W_hn h + b_hn))
                TensorPrimitives.MultiplyAddEstimate(a.Slice(0, h), ghnb, n, n);
                FloatKernels.Tanh(n, n);
                // h' = n + z ⊙ (h − n)
                Span<float> ho = hOut.Slice(b * h, h);
                TensorPrimitives.Subtract(hPrev.Slice(b * h, h), n, ho);
                TensorPrimitives.MultiplyAddEstimate(a.Slice(h, h), ho, n, ho);
            }
        }

        /// <summary>The batch-1 streaming step's pointwise part, one tile of W.Count units at a time (see <see cref="PackedStep"/>):
        /// the same formulas as <see cref="Forward"/>. Each tile holds r and z (input and hidden parts summed) and n's
        /// input and hidden parts apart, because r multiplies the hidden part only. Two passes over the tiles (in L1).</summary>
        // pre: [tiles, 4, L] in: per tile of L = W.Count units a_r, a_z, W_in x + b_in, W_hn h + b_hn; out: r, z in place
        // hPrev, hOut: [tiles·L]
        public static void ForwardPacked<W>(Span<float> pre, ReadOnlySpan<float> hPrev, Span<float> hOut, int tiles) where W : struct, IFloatWidth<W>
        {
            int l = W.Count, n = 4 * l * tiles;
            if (pre.Length < n || hPrev.Length < l * tiles || hOut.Length < l * tiles) throw new ArgumentException("spans shorter than the tiles");
            ref float pp = ref MemoryMarshal.GetReference(pre);
            ref float pv = ref MemoryMarshal.GetReference(hPrev);
            ref float ph = ref MemoryMarshal.GetReference(hOut);
            for (int o = 0; o < n; o += 4 * l)
            {
                W.Store(FloatMath.Sigmoid(W.Load(ref pp, o)), ref pp, o);
                W.Store(FloatMath.Sigmoid(W.Load(ref pp, o + l)), ref pp, o + l);
            }
            // n = tanh(a_in + r ⊙ (W_hn h + b_hn));  h' = n + z ⊙ (h − n)
            for (int u = 0, o = 0; o < n; u += l, o += 4 * l)
            {
                W nn = FloatMath.Tanh(W.MultiplyAddEstimate(W.Load(ref pp, o), W.Load(ref pp, o + 3 * l), W.Load(ref pp, o + 2 * l)));
                W.Store(W.MultiplyAddEstimate(W.Load(ref pp, o + l), W.Load(ref pv, u) - nn, nn), ref ph, u);
            }
        }

        // dPreIh: [B, 3H] out: gradient of W_ih x + b_ih;  dPreHh: [B, 3H] out: gradient of W_hh h + b_hh
        // dhPrev: [B, H] out: the direct part of the gradient reaching h (z ⊙ dh'); the W_hh part is added by the caller
        // gates: [B, 3H] activated r, z, n; ghn: [B, H]; hPrev: [B, H]; dh: [B, H] gradient reaching h'
        public static void Backward(Span<float> dPreIh, Span<float> dPreHh, Span<float> dhPrev, ReadOnlySpan<float> gates, ReadOnlySpan<float> ghn, ReadOnlySpan<float> hPrev, ReadOnlySpan<float> dh, int batch, int h)
        {
            for (int b = 0; b < batch; b++)
            {
                int r3 = b * 3 * h, s = b * h;
                for (int j = 0; j < h; j++)
                {
                    float r = gates[r3 + j], z = gates[r3 + h + j], n = gates[r3 + 2 * h + j];
                    float dhj = dh[s + j], hp = hPrev[s + j];
                    // h' = (1 − z) ⊙ n + z ⊙ h
                    float dn = dhj * (1f - z), dz = dhj * (hp - n);
                    dhPrev[s + j] = dhj * z;
                    // n = tanh(a_in + r ⊙ ghn)
                    float dan = dn * (1f - n * n);
                    float dr = dan * ghn[s + j];
                    float dar = dr * r * (1f - r), daz = dz * z * (1f - z);
                    dPreIh[r3 + j] = dar; dPreIh[r3 + h + j] = daz; dPreIh[r3 + 2 * h + j] = dan;
                    dPreHh[r3 + j] = dar; dPreHh[r3 + h + j] = daz; dPreHh[r3 + 2 * h + j] = dan * r;
                }
            }
        }
    }
}

namespace EdgeRnn.Model.Quantized
{
    // GRU: the int8 forecaster's fused epilogue for this cell (the dispatch, Pre and the fields stay in
    // Quantized/Int8Forecaster.cs), kept beside the float forward and backward above.
    public sealed partial class Int8Forecaster
    {
        private readonly ref partial struct Epilogue
        {
            /// <summary>r, z pre-halved; n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h. Returns
            /// the units whose h went into <paramref name="range"/>.</summary>
            private int Gru<V>(int end, int units, ref HRange<V> range) where V : struct, ILanes8<V>
            {
                // Pass 1: r and z of two blocks at a time through Tanh4, then n's pre-activation; z and it wait in scratch.
                // Pass 2: n = tanh of four blocks at a time, then h'. The same operations per unit as one pass, so the same
                // bits, but with independent chains side by side. Each pass is its own method, so Native AOT's inliner
                // budget (per method it compiles) covers every lane operation of it.
                GruGates<V>(end);
                return GruNew(end, units, ref range);
            }

            private void GruGates<V>(int end) where V : struct, ILanes8<V>
            {
                V kx = V.Splat(_sIn), kh = V.Splat(_sH), cx = V.Splat(_cIn), ch = V.Splat(_cH), half = V.Splat(0.5f);
                ref int ai = ref _ai, ah = ref _ah;
                ref float si = ref _si, sh = ref _sh, b = ref _b, ui = ref _ui, uh = ref _uh;
                ref float bhn = ref MemoryMarshal.GetArrayDataReference(_bhn);
                ref float zs = ref MemoryMarshal.GetArrayDataReference(_scratch);
                int n8 = 8 * end;
                ref float ns = ref Unsafe.Add(ref zs, n8);
                int j = 0;
                for (; j + 2 <= end; j += 2)
                {
                    int u = 8 * j, r = 24 * j;
                    V r0 = Pre(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, r, kx, kh, cx, ch), z0 = Pre(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, r + 8, kx, kh, cx, ch);
                    V r1 = Pre(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, r + 24, kx, kh, cx, ch), z1 = Pre(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, r + 32, kx, kh, cx, ch);
                    Activations.Tanh4(ref r0, ref z0, ref r1, ref z1);
                    GruGate(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, ref bhn, ref zs, ref ns, r, u, kx, kh, cx, ch, half, r0, z0);
                    GruGate(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, ref bhn, ref zs, ref ns, r + 24, u + 8, kx, kh, cx, ch, half, r1, z1);
                }
                if (j < end) GruGatesLast<V>(j, n8);
            }

            /// <summary>Pass 1 for an odd last block j (its own method, for the same inliner budget reason).</summary>
            private void GruGatesLast<V>(int j, int n8) where V : struct, ILanes8<V>
            {
                V kx = V.Splat(_sIn), kh = V.Splat(_sH), cx = V.Splat(_cIn), ch = V.Splat(_cH), half = V.Splat(0.5f);
                ref float zs = ref MemoryMarshal.GetArrayDataReference(_scratch);
                int u = 8 * j, r = 24 * j;
                V tr = Activations.Tanh(Pre(ref _ai, ref _si, ref _b, ref _ui, ref _ah, ref _sh, ref _uh, r, kx, kh, cx, ch));
                V tz = Activations.Tanh(Pre(ref _ai, ref _si, ref _b, ref _ui, ref _ah, ref _sh, ref _uh, r + 8, kx, kh, cx, ch));
                GruGate(ref _ai, ref _si, ref _b, ref _ui, ref _ah, ref _sh, ref _uh, ref MemoryMarshal.GetArrayDataReference(_bhn), ref zs, ref Unsafe.Add(ref zs, n8),
                        r, u, kx, kh, cx, ch, half, tr, tz);
            }

            private int GruNew<V>(int end, int units, ref HRange<V> range) where V : struct, ILanes8<V>
            {
                V one = V.Splat(1f);
                ref float hr = ref MemoryMarshal.GetArrayDataReference(_hs);
                ref float zs = ref MemoryMarshal.GetArrayDataReference(_scratch);
                int n8 = 8 * end;
                ref float ns = ref Unsafe.Add(ref zs, n8);
                int k = 0, full = units & ~7, tracked = 0;
                for (; k + 32 <= n8; k += 32)
                {
                    V t0 = V.Load(ref ns, k), t1 = V.Load(ref ns, k + 8), t2 = V.Load(ref ns, k + 16), t3 = V.Load(ref ns, k + 24);
                    Activations.Tanh4(ref t0, ref t1, ref t2, ref t3);
                    t0 = GruOut(t0, ref zs, ref hr, k, one);
                    t1 = GruOut(t1, ref zs, ref hr, k + 8, one);
                    t2 = GruOut(t2, ref zs, ref hr, k + 16, one);
                    t3 = GruOut(t3, ref zs, ref hr, k + 24, one);
                    if (k + 32 > full) continue;
                    range.Add(t0);
                    range.Add(t1);
                    range.Add(t2);
                    range.Add(t3);
                    tracked = k + 32;
                }
                for (; k < n8; k += 8)
                {
                    V t = GruOut(Activations.Tanh(V.Load(ref ns, k)), ref zs, ref hr, k, one);
                    if (k + 8 > full) continue;
                    range.Add(t);
                    tracked = k + 8;
                }
                return tracked;
            }

            /// <summary>z = σ, and n's pre-activation W_in x + b_in + r ⊙ (W_hn h + b_hn), for the block at rows r, units u.</summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static void GruGate<V>(ref int ai, ref float si, ref float b, ref float ui, ref int ah, ref float sh, ref float uh, ref float bhn,
                                           ref float zs, ref float ns, int r, int u, V kx, V kh, V cx, V ch, V half, V tr, V tz) where V : struct, ILanes8<V>
            {
                V inx = V.LoadInt(ref ai, r + 16) * (V.Load(ref si, r + 16) * kx) + V.Load(ref b, r + 16) + V.Load(ref ui, r + 16) * cx;
                V ghn = V.LoadInt(ref ah, r + 16) * (V.Load(ref sh, r + 16) * kh) + V.Load(ref uh, r + 16) * ch + V.Load(ref bhn, u);
                V.Store(inx + (half * tr + half) * ghn, ref ns, u);
                V.Store(half * tz + half, ref zs, u);
            }

            /// <summary>h' = (1 - z) ⊙ n + z ⊙ h for 8 units, stored and returned.</summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static V GruOut<V>(V n, ref float zs, ref float hr, int u, V one) where V : struct, ILanes8<V>
            {
                V z = V.Load(ref zs, u);
                V h = (one - z) * n + z * V.Load(ref hr, u);
                V.Store(h, ref hr, u);
                return h;
            }
        }
    }
}
