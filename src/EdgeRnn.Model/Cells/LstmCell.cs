using System.Numerics.Tensors;
using EdgeRnn.Numerics;

namespace EdgeRnn.Model.Cells;

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
