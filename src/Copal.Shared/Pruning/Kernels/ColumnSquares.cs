using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Pruning.Kernels;

/// <summary>
/// Column sums of squares, sum_t x[t, c]^2, of a float32 matrix [tokens, n] (Wanda's statistic)
/// in one pass over x and no temporary of its size. Threads split the columns; each column is
/// summed over blocks of <see cref="BlockRows"/> tokens in order, so the result does not depend on
/// the number of threads.
/// </summary>
public static unsafe class ColumnSquares
{
    private const int BlockRows = 256;

    public static Tensor Of(Tensor x)
    {
        if (!TensorMemory.IsContiguousCpu(x, ScalarType.Float32) || x.dim() != 2 || x.numel() * sizeof(float) > int.MaxValue)
        {
            return x.square().sum(dim: 0);
        }

        var tokens = (int)x.shape[0];
        var n = (int)x.shape[1];
        var result = zeros(n, ScalarType.Float32);
        var source = TensorMemory.Address(x);
        var target = TensorMemory.Address(result);
        var lanes = Vector256<float>.Count;
        var threads = (long)tokens * n < 1 << 18 ? 1 : Math.Max(1, Math.Min(get_num_threads(), n / (4 * lanes)));
        var width = (((n + threads - 1) / threads) + lanes - 1) / lanes * lanes;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var first = t * width;
            var last = Math.Min(n, first + width);
            if (first < last)
            {
                Sum((float*)source, (float*)target, tokens, n, first, last);
            }
        });
        return result;
    }

    private static void Sum(float* x, float* result, int tokens, int n, int first, int last)
    {
        var columns = last - first;
        var block = (float*)NativeMemory.Alloc((nuint)columns, sizeof(float));
        try
        {
            var lanes = Vector256<float>.Count;
            for (var t0 = 0; t0 < tokens; t0 += BlockRows)
            {
                new Span<float>(block, columns).Clear();
                for (var t = t0; t < Math.Min(tokens, t0 + BlockRows); t++)
                {
                    var row = x + ((long)t * n) + first;
                    var c = 0;
                    for (; c + lanes <= columns; c += lanes)
                    {
                        var v = Vector256.Load(row + c);
                        Vector256.Store(Vector256.Load(block + c) + (v * v), block + c);
                    }

                    for (; c < columns; c++)
                    {
                        block[c] += row[c] * row[c];
                    }
                }

                for (var c = 0; c < columns; c++)
                {
                    result[first + c] += block[c];
                }
            }
        }
        finally
        {
            NativeMemory.Free(block);
        }
    }
}
