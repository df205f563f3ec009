using Copal.Pruning.Kernels;
using static TorchSharp.torch;

namespace Copal.Pruning;

/// <summary>Which scores compete with each other when choosing what to prune.</summary>
public enum MaskGroup
{
    /// <summary>Each output row prunes floor(in * s) of its entries.</summary>
    Row,

    /// <summary>The whole matrix prunes floor(numel * s) entries.</summary>
    Matrix,

    /// <summary>SparseGPT's own choice: per block of 128 columns, by OBS error.</summary>
    ObsBlock,
}

/// <summary>An N:M pattern: in every M consecutive input columns of a row, N are pruned.</summary>
public sealed record NmPattern(int N, int M)
{
    public override string ToString() => $"{N}:{M}";

    /// <summary>Reads N:M; whether N and M make a pattern is <see cref="Check"/>'s, with the rest of the settings.</summary>
    public static NmPattern Parse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[0], out var n) || !int.TryParse(parts[1], out var m))
        {
            throw new CopalInputException($"--pattern must look like N:M (e.g. 2:4), got '{text}'");
        }

        return new NmPattern(n, m);
    }

    /// <summary>Refuses a pattern that prunes nothing or everything, named as <paramref name="name"/>.</summary>
    public void Check(string name)
    {
        if (N < 1 || M < 2 || N >= M)
        {
            throw new CopalInputException($"{name} {this}: N must be at least 1 and less than M");
        }
    }
}

/// <summary>
/// Turns importance scores into a keep-mask. Lowest scores are pruned; ties prune the lower
/// index first (a stable sort), so every implementation picks the same entries.
/// </summary>
public sealed record MaskPolicy(double Sparsity, MaskGroup Group, NmPattern? Pattern)
{
    /// <summary>How many of a comparison group's <paramref name="entries"/> are pruned: floor(entries x sparsity), exactly.</summary>
    public static long PrunedOf(long entries, double sparsity) => (long)Math.Floor(entries * sparsity);

    /// <summary>Refuses shapes the pattern cannot tile.</summary>
    public void Check(string linear, long inFeatures)
    {
        if (Pattern is { } p && inFeatures % p.M != 0)
        {
            throw new CopalInputException($"--pattern {p}: {linear} has {inFeatures} input features, not divisible by {p.M}");
        }
    }

    /// <summary>scores [out, in] to a boolean mask, true where the weight is kept.</summary>
    public Tensor KeepMask(Tensor scores)
    {
        if (Pattern is { } p)
        {
            return NmKeepMask(scores, p);
        }

        return Group == MaskGroup.Row ? RowKeepMask(scores, Sparsity) : MatrixKeepMask(scores, Sparsity);
    }

    /// <summary>Rows are selected in chunks of about this many entries, so temporaries stay small.</summary>
    private const long ChunkEntries = 1L << 22;

    public static Tensor RowKeepMask(Tensor scores, double sparsity)
    {
        var prune = PrunedOf(scores.shape[1], sparsity);
        if (RowSelection.Supports(scores))
        {
            return RowSelection.KeepMask(scores, prune);
        }

        var keep = ones_like(scores, ScalarType.Bool);
        if (prune == 0)
        {
            return keep;
        }

        var rows = Math.Max(1, ChunkEntries / Math.Max(1, scores.shape[1]));
        for (long start = 0; start < scores.shape[0]; start += rows)
        {
            var count = Math.Min(rows, scores.shape[0] - start);
            using var scope = NewDisposeScope();
            keep.narrow(0, start, count).copy_(KeepLargest(scores.narrow(0, start, count), prune));
        }

        return keep;
    }

    public static Tensor MatrixKeepMask(Tensor scores, double sparsity)
    {
        var flat = scores.reshape(1, -1);
        var prune = PrunedOf(flat.shape[1], sparsity);
        using var scope = NewDisposeScope();
        var keep = RowSelection.Supports(flat) ? RowSelection.KeepMask(flat, prune) : prune == 0 ? ones_like(flat, ScalarType.Bool) : KeepLargest(flat, prune);
        return keep.view(scores.shape).MoveToOuterDisposeScope();
    }

    public static Tensor NmKeepMask(Tensor scores, NmPattern pattern)
    {
        var keep = empty(scores.shape, ScalarType.Bool);
        var rows = Math.Max(1, ChunkEntries / Math.Max(1, scores.shape[1]));
        for (long start = 0; start < scores.shape[0]; start += rows)
        {
            var count = Math.Min(rows, scores.shape[0] - start);
            using var scope = NewDisposeScope();
            var groups = scores.narrow(0, start, count).reshape(count, -1, pattern.M);
            var (_, order) = groups.sort(2, descending: false, stable: true);
            var chunk = ones_like(groups, ScalarType.Bool);
            chunk.scatter_(2, order.narrow(2, 0, pattern.N), zeros(order.shape[0], order.shape[1], pattern.N, ScalarType.Bool));
            keep.narrow(0, start, count).copy_(chunk.view(count, scores.shape[1]));
        }

        return keep;
    }

    /// <summary>
    /// scores [rows, n]: false for the <paramref name="prune"/> lowest entries of each row, in the
    /// order of a stable ascending sort (among equal scores the lower index goes first), found
    /// with a selection instead of a sort: everything below the prune-th smallest value, then
    /// as many of the entries equal to it as are still needed, lowest index first.
    /// </summary>
    private static Tensor KeepLargest(Tensor scores, long prune)
    {
        var (threshold, _) = scores.kthvalue(prune, 1, keepdim: true);
        var atMost = scores.le(threshold);
        using var counts = atMost.sum(1, keepdim: true, type: ScalarType.Int64);
        using var exact = counts.eq(prune).all();
        if (exact.item<bool>())
        {
            // No tie straddles the cut (the usual case): exactly `prune` entries are at or below it.
            return atMost.logical_not_();
        }

        var below = scores.lt(threshold);
        var tied = scores.eq(threshold);
        var needed = below.sum(1, keepdim: true, type: ScalarType.Int64).neg_().add_(prune);
        var pruned = below.logical_or_(tied.logical_and(tied.cumsum(1, ScalarType.Int64).le(needed)));
        return pruned.logical_not_();
    }
}
