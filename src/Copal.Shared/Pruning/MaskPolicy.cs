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

    public static NmPattern Parse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[0], out var n) || !int.TryParse(parts[1], out var m))
        {
            throw new CopalInputException($"--pattern must look like N:M (e.g. 2:4), got '{text}'");
        }

        if (n < 1 || m < 2 || n >= m)
        {
            throw new CopalInputException($"--pattern {text}: N must be at least 1 and less than M");
        }

        return new NmPattern(n, m);
    }
}

/// <summary>
/// Turns importance scores into a keep-mask. Lowest scores are pruned; ties prune the lower
/// index first (a stable sort), so every implementation picks the same entries.
/// </summary>
public sealed record MaskPolicy(double Sparsity, MaskGroup Group, NmPattern? Pattern)
{
    /// <summary>The fraction of entries this policy prunes from a [out, in] matrix.</summary>
    public double ExpectedSparsity(long outFeatures, long inFeatures) => Pattern is { } p
        ? (double)p.N / p.M
        : Group == MaskGroup.Row
            ? Math.Floor(inFeatures * Sparsity) / inFeatures
            : Math.Floor(outFeatures * inFeatures * Sparsity) / (outFeatures * inFeatures);

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

    public static Tensor RowKeepMask(Tensor scores, double sparsity)
    {
        using var scope = NewDisposeScope();
        var prune = (long)Math.Floor(scores.shape[1] * sparsity);
        var keep = ones_like(scores, ScalarType.Bool);
        if (prune > 0)
        {
            var (_, order) = scores.sort(1, descending: false, stable: true);
            keep.scatter_(1, order.narrow(1, 0, prune), zeros(scores.shape[0], prune, ScalarType.Bool));
        }

        return keep.MoveToOuterDisposeScope();
    }

    public static Tensor MatrixKeepMask(Tensor scores, double sparsity)
    {
        using var scope = NewDisposeScope();
        var flat = scores.flatten();
        var prune = (long)Math.Floor(flat.shape[0] * sparsity);
        var keep = ones_like(flat, ScalarType.Bool);
        if (prune > 0)
        {
            var (_, order) = flat.sort(0, descending: false, stable: true);
            keep.index_fill_(0, order.narrow(0, 0, prune), false);
        }

        return keep.view(scores.shape).MoveToOuterDisposeScope();
    }

    public static Tensor NmKeepMask(Tensor scores, NmPattern pattern)
    {
        using var scope = NewDisposeScope();
        var groups = scores.reshape(scores.shape[0], -1, pattern.M);
        var (_, order) = groups.sort(2, descending: false, stable: true);
        var keep = ones_like(groups, ScalarType.Bool);
        keep.scatter_(2, order.narrow(2, 0, pattern.N), zeros(order.shape[0], order.shape[1], pattern.N, ScalarType.Bool));
        return keep.view(scores.shape).MoveToOuterDisposeScope();
    }
}
