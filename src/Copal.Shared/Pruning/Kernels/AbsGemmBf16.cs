using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Pruning.Kernels;

/// <summary>
/// <see cref="AbsGemm"/>'s bfloat16 path: |A| and |X| rounded to bfloat16, products summed in
/// float32 straight into C by MKL's bfloat16 GEMM. MKL threads itself differently for different
/// thread counts, which would change the bits of C between a 1-thread node and a 2-thread process;
/// so C is cut into fixed row blocks, each one single-threaded MKL call, and threads take blocks
/// as they free up.
/// </summary>
internal static unsafe class AbsGemmBf16
{
    /// <summary>Rows of C per MKL call.</summary>
    private const int Rows = 128;

    /// <summary>For each j: outputs[j].C += |outputs[j].A|^T |x| on CPU operands, each C contiguous float32 [out, in].</summary>
    public static void Accumulate(Tensor x, IReadOnlyList<(Tensor A, Tensor C)> outputs)
    {
        if (!outputs.All(o => o.C.dtype == ScalarType.Float32 && o.C.is_contiguous() && o.C.shape[0] == o.A.shape[1] && o.C.shape[1] == x.shape[1]))
        {
            throw new ArgumentException("each C must be a contiguous float32 [out, in] tensor", nameof(outputs));
        }

        using var scope = NewDisposeScope();
        var k = (int)x.shape[0];
        var n = (int)x.shape[1];
        var b = (ushort*)TensorMemory.Address(Magnitude(x));
        var parts = outputs.Select(o => new AbsGemmPart(TensorMemory.Address(Magnitude(o.A)), (int)o.A.shape[1], TensorMemory.Address(o.C))).ToArray();
        var blocks = parts.SelectMany(p => Enumerable.Range(0, (p.M + Rows - 1) / Rows).Select(i => (Part: p, Row: i * Rows))).ToArray();
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, get_num_threads()) };
        Parallel.For(
            0,
            blocks.Length,
            options,
            () => Mkl.SetLocalThreads(1),
            (i, _, previous) =>
            {
                var (part, row) = blocks[i];
                var rows = Math.Min(Rows, part.M - row);
                Mkl.GemmBf16(Mkl.RowMajor, Mkl.Transposed, Mkl.NotTransposed, rows, n, k, 1f, (ushort*)part.A + row, part.M, b, n, 1f, (float*)part.C + ((long)row * n), n);
                return previous;
            },
            previous => Mkl.SetLocalThreads(previous));
    }

    private static Tensor Magnitude(Tensor t) =>
        (t.dtype == ScalarType.BFloat16 ? t.abs() : t.to_type(ScalarType.BFloat16).abs_()).contiguous();
}
