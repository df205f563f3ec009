using static TorchSharp.torch;

namespace Copal.Pruning.Metrics;

/// <summary>
/// SparseGPT (Frantar and Alistarh, 2023): optimal brain surgeon pruning with H = sum_t x_t x_t^T.
/// Columns are processed in blocks of 128; within a block the entries with the lowest
/// w^2 / [H^-1]_cc^2 are pruned and the error of each pruned column is spread over the
/// columns still to come, so the remaining weights compensate.
/// </summary>
public sealed class SparseGptMetric : IImportanceMetric
{
    public const int BlockSize = 128;
    public const double Damping = 0.01;

    public string Name => "sparsegpt";

    /// <summary>SparseGPT chooses its own groups: per block of columns, by OBS error.</summary>
    public MaskGroup DefaultGroup => MaskGroup.ObsBlock;

    public Propagation DefaultPropagation => Propagation.Pruned;

    public Strategy DefaultStrategy => Strategy.Reset;

    /// <summary>The kept weights absorb the error of the pruned ones.</summary>
    public bool ChangesWeights => true;

    public bool UsesCalibration => true;

    public bool HasImportanceGemm => false;

    public bool UsesOutput => false;

    public bool AcceptsComputeDType => false;

    public long[] StatisticShape(long outFeatures, long inFeatures) => [inFeatures, inFeatures];

    /// <summary>The Hessian X^T X: a multiply-add per pair of input features.</summary>
    public long FlopsPerToken(long outFeatures, long inFeatures) => checked(2 * inFeatures * inFeatures);

    public void Accumulate(Tensor x, IReadOnlyList<ObservedLinear> linears)
    {
        // H is the same for every linear reading x: one GEMM per shared input.
        using var h = x.t().matmul(x);
        foreach (var linear in linears)
        {
            linear.Statistic.add_(h);
        }
    }

    public Tensor Fold(Tensor? carried, Tensor statistic, Tensor weight) =>
        carried is null ? statistic.alias() : statistic.add_(carried).alias();

    public Tensor Prune(Tensor weight, Tensor? accumulated, MaskPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(accumulated);
        using var scope = NewDisposeScope();
        var columns = weight.shape[1];
        var w = weight.to_type(ScalarType.Float32).clone();
        var h = accumulated.to_type(ScalarType.Float64).clone();

        // Inputs that never fire carry no information: fix their diagonal and drop the column.
        var dead = h.diagonal().eq(0);
        h.diagonal().masked_fill_(dead, 1.0);
        w.masked_fill_(dead.unsqueeze(0), 0.0f);
        h.diagonal().add_(Damping * h.diagonal().mean().item<double>());

        // Upper Cholesky factor of H^-1: row c holds the update that pruning column c spreads right.
        var hInv = linalg.cholesky(cholesky_inverse(linalg.cholesky(h))).t().contiguous().to_type(ScalarType.Float32);

        for (long start = 0; start < columns; start += BlockSize)
        {
            var count = Math.Min(BlockSize, columns - start);
            PruneBlock(w, hInv, start, count, policy);
        }

        return w.MoveToOuterDisposeScope();
    }

    private static void PruneBlock(Tensor w, Tensor hInv, long start, long count, MaskPolicy policy)
    {
        using var scope = NewDisposeScope();
        var block = w.narrow(1, start, count).clone();
        var errors = zeros_like(block);
        var hBlock = hInv.narrow(0, start, count).narrow(1, start, count);
        var diagonal = hBlock.diagonal();
        var prune = policy.Pattern is null
            ? MaskPolicy.MatrixKeepMask(ObsScores(block, diagonal), policy.Sparsity).logical_not()
            : zeros_like(block, ScalarType.Bool);

        for (long i = 0; i < count; i++)
        {
            if (policy.Pattern is { } p && i % p.M == 0)
            {
                var group = MaskPolicy.NmKeepMask(ObsScores(block.narrow(1, i, p.M), diagonal.narrow(0, i, p.M)), p);
                prune.narrow(1, i, p.M).copy_(group.logical_not());
            }

            var column = block[.., i];
            var quantised = column.masked_fill(prune[.., i], 0.0f);
            var error = (column - quantised) / diagonal[i];
            block.narrow(1, i, count - i).sub_(error.unsqueeze(1).matmul(hBlock.narrow(0, i, 1).narrow(1, i, count - i)));
            block[.., i] = quantised;
            errors[.., i] = error;
        }

        w.narrow(1, start, count).copy_(block);
        var rest = w.shape[1] - start - count;
        if (rest > 0)
        {
            w.narrow(1, start + count, rest).sub_(errors.matmul(hInv.narrow(0, start, count).narrow(1, start + count, rest)));
        }
    }

    private static Tensor ObsScores(Tensor block, Tensor diagonal) => block.square() / diagonal.square().unsqueeze(0);
}
