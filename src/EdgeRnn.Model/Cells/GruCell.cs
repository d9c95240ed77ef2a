using System.Numerics.Tensors;
using EdgeRnn.Numerics;

namespace EdgeRnn.Model.Cells;

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
