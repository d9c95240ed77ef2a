using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using EdgeRnn.Numerics;

namespace EdgeRnn.Model.Cells
{
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

        /// <summary>The batch-1 streaming step's pointwise part (see <see cref="PackedStep"/>). pre, hOut: [n], n a multiple of W.Count.</summary>
        public static void ForwardPacked<W>(ReadOnlySpan<float> pre, Span<float> hOut, bool relu) where W : struct, IFloatWidth<W>
        {
            int n = pre.Length;
            if (n % W.Count != 0 || hOut.Length < n) throw new ArgumentException("spans are not whole vectors");
            ref float pp = ref MemoryMarshal.GetReference(pre);
            ref float ph = ref MemoryMarshal.GetReference(hOut);
            for (int u = 0; u < n; u += W.Count)
            {
                W a = W.Load(ref pp, u);
                W.Store(relu ? W.Max(a, W.Zero) : FloatMath.Tanh(a), ref ph, u);
            }
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
}

namespace EdgeRnn.Model.Quantized
{
    // Elman RNN: the int8 forecaster's fused epilogue for this cell (the dispatch, Pre and the fields stay in
    // Quantized/Int8Forecaster.cs), kept beside the float forward and backward above.
    public sealed partial class Int8Forecaster
    {
        private readonly ref partial struct Epilogue
        {
            /// <summary>h' = tanh(pre) or max(pre, 0). Returns the units whose h went into <paramref name="range"/>.</summary>
            private int Rnn<V>(bool relu, int end, int units, ref HRange<V> range) where V : struct, ILanes8<V>
            {
                V kx = V.Splat(_sIn), kh = V.Splat(_sH), cx = V.Splat(_cIn), ch = V.Splat(_cH), zero = V.Splat(0f);
                ref int ai = ref _ai, ah = ref _ah;
                ref float si = ref _si, sh = ref _sh, b = ref _b, ui = ref _ui, uh = ref _uh;
                ref float hr = ref MemoryMarshal.GetArrayDataReference(_hs);
                int full = units & ~7;
                for (int u = 0; u < 8 * end; u += 8)
                {
                    V pre = Pre(ref ai, ref si, ref b, ref ui, ref ah, ref sh, ref uh, u, kx, kh, cx, ch);
                    V h = relu ? V.Max(pre, zero) : Activations.Tanh(pre);
                    V.Store(h, ref hr, u);
                    if (u + 8 <= full) range.Add(h);
                }
                return full;
            }
        }
    }
}
