using System.Numerics.Tensors;
using EdgeRnn.Numerics;

namespace EdgeRnn.Model.Cells;

/// <summary>
/// torch.nn.RNN's cell: h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu.
/// </summary>
internal static class ElmanCell
{
    // pre: [B, H] in: W_ih x + b_ih; gh: [B, H] W_hh h + b_hh; hOut: [B, H] out (the only thing backward needs)
    public static void Forward(Span<float> pre, ReadOnlySpan<float> gh, Span<float> hOut, bool relu)
    {
        TensorPrimitives.Add(pre, gh, pre);
        if (relu) FloatKernels.Relu(pre, hOut);
        else FloatKernels.Tanh(pre, hOut);
    }

    // dPre: [B, H] out; hOut: [B, H] from Forward; dh: [B, H] gradient reaching h'
    public static void Backward(Span<float> dPre, ReadOnlySpan<float> hOut, ReadOnlySpan<float> dh, bool relu)
    {
        if (relu)
        {
            // relu'(a) = 1 where a > 0, i.e. where h' > 0 (PyTorch's threshold_backward uses the same test).
            for (int j = 0; j < dPre.Length; j++) dPre[j] = hOut[j] > 0f ? dh[j] : 0f;
        }
        else
        {
            for (int j = 0; j < dPre.Length; j++) dPre[j] = dh[j] * (1f - hOut[j] * hOut[j]);
        }
    }
}
