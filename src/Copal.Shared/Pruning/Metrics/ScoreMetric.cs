using Copal.Pruning.Kernels;
using static TorchSharp.torch;

namespace Copal.Pruning.Metrics;

/// <summary>Metrics that rank entries by a score and zero the lowest under the mask policy.</summary>
public abstract class ScoreMetric : IImportanceMetric
{
    public abstract string Name { get; }

    public virtual MaskGroup DefaultGroup => MaskGroup.Row;

    public virtual Propagation DefaultPropagation => Propagation.Pruned;

    public virtual Strategy DefaultStrategy => Strategy.Reset;

    public bool ChangesWeights => false;

    public virtual bool UsesCalibration => true;

    public virtual bool HasImportanceGemm => false;

    public virtual bool UsesOutput => false;

    public virtual bool AcceptsComputeDType => false;

    public abstract long[] StatisticShape(long outFeatures, long inFeatures);

    public abstract long FlopsPerToken(long outFeatures, long inFeatures);

    public abstract void Accumulate(Tensor x, IReadOnlyList<ObservedLinear> linears);

    public virtual Tensor Fold(Tensor? carried, Tensor statistic, Tensor weight) =>
        carried is null ? statistic.alias() : statistic.add_(carried).alias();

    /// <summary>Scores [out, in]: higher is more important.</summary>
    public abstract Tensor Scores(Tensor weight, Tensor? accumulated);

    /// <summary>
    /// Zeroes the <paramref name="prune"/> lowest-scoring entries of each row in place, with the
    /// scores of <see cref="Scores"/> computed on the fly; false when this metric cannot.
    /// </summary>
    protected virtual bool PruneRows(Tensor weight, Tensor? accumulated, long prune) => false;

    public Tensor Prune(Tensor weight, Tensor? accumulated, MaskPolicy policy)
    {
        if (policy.Pattern is null && policy.Group == MaskGroup.Row && RowSelection.Supports(weight))
        {
            // The row mask without building scores or a mask: selected and zeroed in place.
            if (PruneRows(weight, accumulated, MaskPolicy.PrunedOf(weight.shape[1], policy.Sparsity)))
            {
                return weight.alias();
            }
        }

        using var scope = NewDisposeScope();
        var keep = policy.KeepMask(Scores(weight, accumulated));
        return weight.mul_(keep).alias().MoveToOuterDisposeScope();
    }
}
