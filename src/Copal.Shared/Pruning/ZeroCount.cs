using System.Runtime.Intrinsics;
using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Pruning;

/// <summary>
/// The zeros of a pruned weight, for the sparsity report. libtorch's count_nonzero runs a scalar
/// loop on CPU, so float32 CPU tensors are counted here with vector compares. Other tensors use
/// count_nonzero.
/// </summary>
public static unsafe class ZeroCount
{
    /// <summary>Elements summed in the int lanes before they are added up, so no lane overflows.</summary>
    private const long FlushEvery = 1L << 30;

    public static long Of(Tensor t)
    {
        if (!TensorMemory.IsContiguousCpu(t, ScalarType.Float32))
        {
            using var nonzero = count_nonzero(t);
            return t.numel() - nonzero.item<long>();
        }

        var x = (float*)TensorMemory.Address(t);
        var n = t.numel();
        var lanes = Vector256<float>.Count;
        long zeros = 0, i = 0;
        while (n - i >= lanes)
        {
            var end = i + (Math.Min(n - i, FlushEvery) / lanes * lanes);
            var counts = Vector256<int>.Zero;
            for (; i < end; i += lanes)
            {
                // A lane that compares equal is all ones, -1 as an int.
                counts -= Vector256.Equals(Vector256.Load(x + i), Vector256<float>.Zero).AsInt32();
            }

            zeros += Vector256.Sum(counts);
        }

        for (; i < n; i++)
        {
            zeros += x[i] == 0 ? 1 : 0;
        }

        return zeros;
    }
}
