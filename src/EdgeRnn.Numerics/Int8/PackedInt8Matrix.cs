using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace EdgeRnn.Numerics.Int8;

/// <summary>
/// An int8 matrix in the row-interleaved layout of <see cref="Int8Kernels.MatVecPacked"/>: blocks of
/// <see cref="BlockRows"/> rows × 4 columns, 32 bytes each, row blocks outermost:
/// Data[((rb·K4 + kb)·8 + i)·4 + j] = w[rb·8 + i, kb·4 + j]. One 32-byte load times one broadcast 4 bytes of x
/// (a single int32) feeds 8 rows' partial sums in 8 int32 lanes (vpdpbusd, vpmaddubsw+vpmaddwd, SDOT), so a row never
/// needs a horizontal reduction: short rows (a hidden size of 64 is 64 bytes) no longer pay one per row.
/// Rows are padded to a multiple of 8 and columns to a multiple of 4 with zeros, so sums stay exact.
/// <see cref="RowCorrection"/> = 128·Σ_k w[r, k] lets the VNNI path feed x + 128 as the unsigned operand:
/// Σ (x+128)·w − 128·Σ w = Σ x·w exactly.
/// </summary>
public sealed unsafe class PackedInt8Matrix
{
    public const int BlockRows = 8;

    public int Rows { get; }
    public int Cols { get; }
    /// <summary>Column quads: ⌈Cols / 4⌉.</summary>
    public int K4 { get; }
    public int RowBlocks { get; }
    /// <summary>[RowBlocks, K4, 8, 4], starting on a 64-byte boundary.</summary>
    public ReadOnlySpan<sbyte> Data => new(_store, _offset, _length);
    /// <summary>The first byte of <see cref="Data"/>. It is 64-byte aligned, so no 32-byte load splits a cache line
    /// (a managed array's data starts 16 bytes into an 8-byte aligned object, which split half of them and cost the
    /// AVX-VNNI matvec a third of its speed), and it never moves: the store is allocated pinned.</summary>
    internal ref sbyte DataRef => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_store), _offset);

    private readonly sbyte[] _store;
    private readonly int _offset, _length;
    /// <summary>[RowBlocks·8] 128·Σ_k w[r, k] (zero for padding rows)</summary>
    public int[] RowCorrection { get; }

    private PackedInt8Matrix(int rows, int cols)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(rows < 0 ? nameof(rows) : nameof(cols));
        Rows = rows;
        Cols = cols;
        K4 = (cols + 3) / 4;
        RowBlocks = (rows + BlockRows - 1) / BlockRows;
        _length = RowBlocks * K4 * BlockRows * 4;
        _store = GC.AllocateArray<sbyte>(_length + 63, pinned: true);
        _offset = (int)((64 - ((nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_store)) & 63)) & 63);
        RowCorrection = new int[RowBlocks * BlockRows];
    }

    /// <summary>Index of w[r, k] in <see cref="Data"/>.</summary>
    public int IndexOf(int r, int k) => (((r / BlockRows) * K4 + (k >> 2)) * BlockRows + r % BlockRows) * 4 + (k & 3);

    /// <summary>Pack a row-major matrix. w: [rows, stride], only the first cols of each row are read.</summary>
    public static PackedInt8Matrix Pack(ReadOnlySpan<sbyte> w, int rows, int cols, int stride)
    {
        if (stride < cols) throw new ArgumentException($"stride {stride} is less than the column count {cols}", nameof(stride));
        if (rows > 0 && w.Length < (long)(rows - 1) * stride + cols)
            throw new ArgumentException($"weights hold {w.Length} values, need {(long)(rows - 1) * stride + cols} for {rows} rows of stride {stride}", nameof(w));
        var m = new PackedInt8Matrix(rows, cols);
        var data = m._store.AsSpan(m._offset, m._length);
        for (int r = 0; r < rows; r++)
        {
            int sum = 0;
            for (int k = 0; k < cols; k++)
            {
                sbyte v = w[r * stride + k];
                data[m.IndexOf(r, k)] = v;
                sum += v;
            }
            m.RowCorrection[r] = 128 * sum;
        }
        return m;
    }
}
