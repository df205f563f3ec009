using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Pruning.Kernels;

/// <summary>
/// In each row of a float32 matrix, the k entries that a stable ascending sort would put first:
/// the k lowest, the lower index first among equal values, NaN counted as the largest (as
/// torch.sort orders them). Instead of sorting, a radix selection finds the k-th smallest value
/// and one pass marks everything below it plus the first equal entries still needed. Rows are
/// split between threads; the result does not depend on how many.
/// </summary>
public static unsafe class RowSelection
{
    /// <summary>Float32, contiguous, on the CPU, and small enough for one span.</summary>
    public static bool Supports(Tensor scores) =>
        TensorMemory.IsContiguousCpu(scores, ScalarType.Float32) && scores.dim() == 2
        && scores.numel() * sizeof(float) <= int.MaxValue && scores.shape[1] > 0;

    /// <summary>A [rows, n] boolean mask: false for the <paramref name="k"/> lowest entries of each row.</summary>
    public static Tensor KeepMask(Tensor scores, long k)
    {
        var (rows, n) = Check(scores, k);
        var keep = empty([rows, n], ScalarType.Bool);
        var source = TensorMemory.Address(scores);
        var target = TensorMemory.Address(keep);
        ForRows(rows, n, (r, keys) =>
        {
            var row = (float*)source + ((long)r * n);
            for (var j = 0; j < n; j++)
            {
                keys[j] = Key(row[j]);
            }

            var mask = (byte*)target + ((long)r * n);
            var (threshold, needed) = Select(keys, keys + n, n, (int)k);
            var seen = 0;
            for (var j = 0; j < n; j++)
            {
                mask[j] = (byte)(1 - Pruned(keys[j], threshold, needed, ref seen));
            }
        });
        return keep;
    }

    /// <summary>
    /// Prunes <paramref name="weight"/> [rows, n] in place: in each row the <paramref name="k"/>
    /// entries with the lowest score are multiplied by zero (as multiplying by a keep mask does).
    /// The score is <paramref name="scores"/>[r, c] when given, else |w[r, c]| * <paramref name="columnScale"/>[c]
    /// (or |w[r, c]|), computed exactly as the tensor expression would.
    /// </summary>
    public static void PruneRows(Tensor weight, Tensor? scores, Tensor? columnScale, long k)
    {
        var (rows, n) = Check(weight, k);
        if (scores is not null && (!Supports(scores) || !scores.shape.SequenceEqual(weight.shape)))
        {
            throw new ArgumentException("scores must be a contiguous float32 matrix shaped like the weight", nameof(scores));
        }

        if (columnScale is not null && (columnScale.dtype != ScalarType.Float32 || !columnScale.is_contiguous() || columnScale.numel() != n))
        {
            throw new ArgumentException("the column scale must be a contiguous float32 vector, one per column", nameof(columnScale));
        }

        var w = TensorMemory.Address(weight);
        var s = scores is null ? IntPtr.Zero : TensorMemory.Address(scores);
        var scale = columnScale is null ? IntPtr.Zero : TensorMemory.Address(columnScale);
        ForRows(rows, n, (r, keys) =>
        {
            var row = (float*)w + ((long)r * n);
            if (s != IntPtr.Zero)
            {
                var scoreRow = (float*)s + ((long)r * n);
                for (var j = 0; j < n; j++)
                {
                    keys[j] = Key(scoreRow[j]);
                }
            }
            else if (scale != IntPtr.Zero)
            {
                var c = (float*)scale;
                for (var j = 0; j < n; j++)
                {
                    keys[j] = Key(MathF.Abs(row[j]) * c[j]);
                }
            }
            else
            {
                for (var j = 0; j < n; j++)
                {
                    keys[j] = Key(MathF.Abs(row[j]));
                }
            }

            var (threshold, needed) = Select(keys, keys + n, n, (int)k);
            var seen = 0;

            // The bits cleared, not a multiply by 0: a negative weight would become -0, and a stage stored as masks needs +0 where pruned.
            var bits = (uint*)row;
            for (var j = 0; j < n; j++)
            {
                bits[j] &= (uint)(Pruned(keys[j], threshold, needed, ref seen) - 1);
            }
        });
    }

    private static (int Rows, int N) Check(Tensor t, long k)
    {
        if (!Supports(t))
        {
            throw new ArgumentException("a contiguous float32 CPU matrix is needed", nameof(t));
        }

        var n = (int)t.shape[1];
        if (k < 0 || k > n)
        {
            throw new ArgumentOutOfRangeException(nameof(k), $"cannot prune {k} of {n} entries");
        }

        return ((int)t.shape[0], n);
    }

    private delegate void RowAction(int row, uint* keys);

    /// <summary>Runs <paramref name="row"/> for every row, rows split between threads, each with 2n uints of scratch.</summary>
    private static void ForRows(int rows, int n, RowAction row)
    {
        if (rows == 0)
        {
            return;
        }

        var threads = (long)rows * n < 1 << 16 ? 1 : Math.Max(1, Math.Min(get_num_threads(), rows));
        var perThread = (rows + threads - 1) / threads;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var scratch = (uint*)NativeMemory.Alloc((nuint)n * 2, sizeof(uint));
            try
            {
                for (var r = t * perThread; r < Math.Min(rows, (t + 1) * perThread); r++)
                {
                    row(r, scratch);
                }
            }
            finally
            {
                NativeMemory.Free(scratch);
            }
        });
    }

    /// <summary>1 when the entry with this key is pruned: below the threshold, or among the first <paramref name="needed"/> equal to it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Pruned(uint key, uint threshold, int needed, ref int seen)
    {
        var equal = key == threshold ? 1 : 0;
        var pruned = (key < threshold ? 1 : 0) | (equal & (seen < needed ? 1 : 0));
        seen += equal;
        return pruned;
    }

    /// <summary>
    /// The key of the k-th smallest of n keys (k >= 1 selects; k = 0 prunes nothing), and how many
    /// entries equal to it are pruned. Radix selection, one byte at a time from the top: the
    /// first pass histograms every key, later passes only the candidates left.
    /// </summary>
    private static (uint Threshold, int Needed) Select(uint* keys, uint* candidates, int n, int k)
    {
        if (k == 0)
        {
            return (0, 0);
        }

        var histogram = stackalloc int[256];
        new Span<int>(histogram, 256).Clear();
        for (var j = 0; j < n; j++)
        {
            histogram[keys[j] >> 24]++;
        }

        var rank = k - 1;
        var digit = Digit(histogram, ref rank);
        var threshold = (uint)digit << 24;
        var count = 0;
        for (var j = 0; j < n; j++)
        {
            candidates[count] = keys[j];
            count += (keys[j] >> 24) == (uint)digit ? 1 : 0;
        }

        for (var shift = 16; shift >= 0; shift -= 8)
        {
            new Span<int>(histogram, 256).Clear();
            for (var j = 0; j < count; j++)
            {
                histogram[(candidates[j] >> shift) & 0xff]++;
            }

            digit = Digit(histogram, ref rank);
            threshold |= (uint)digit << shift;
            var kept = 0;
            for (var j = 0; j < count; j++)
            {
                candidates[kept] = candidates[j];
                kept += ((candidates[j] >> shift) & 0xff) == (uint)digit ? 1 : 0;
            }

            count = kept;
        }

        // `rank` entries equal to the threshold come before the k-th: rank + 1 of them are pruned.
        return (threshold, rank + 1);
    }

    /// <summary>The bucket holding the entry of rank <paramref name="rank"/>; the rank becomes its rank within the bucket.</summary>
    private static int Digit(int* histogram, ref int rank)
    {
        var digit = 0;
        while (rank >= histogram[digit])
        {
            rank -= histogram[digit];
            digit++;
        }

        return digit;
    }

    /// <summary>
    /// An unsigned key in torch.sort's ascending order: -0 and +0 equal, every NaN equal and after
    /// every number.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Key(float x)
    {
        var bits = BitConverter.SingleToUInt32Bits(x + 0f);
        var key = bits ^ ((uint)((int)bits >> 31) | 0x80000000u);
        return float.IsNaN(x) ? uint.MaxValue : key;
    }
}
