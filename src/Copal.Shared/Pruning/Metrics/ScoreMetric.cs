using static TorchSharp.torch;

namespace Copal.Pruning.Metrics;

/// <summary>Metrics that rank entries by a score and zero the lowest under the mask policy.</summary>
public abstract class ScoreMetric : IImportanceMetric
{
    public abstract string Name { get; }

    public virtual bool UsesCalibration => true;

    public virtual bool UsesOutput => false;

    public abstract long[] StatisticShape(long outFeatures, long inFeatures);

    public abstract void Accumulate(Tensor x, IReadOnlyList<ObservedLinear> linears);

    public virtual Tensor Fold(Tensor? carried, Tensor statistic, Tensor weight) =>
        carried is null ? statistic.alias() : statistic.add_(carried).alias();

    /// <summary>Scores [out, in]: higher is more important.</summary>
    public abstract Tensor Scores(Tensor weight, Tensor? accumulated);

    public Tensor Prune(Tensor weight, Tensor? accumulated, MaskPolicy policy)
    {
        using var scope = NewDisposeScope();
        var keep = policy.KeepMask(Scores(weight, accumulated));
        return weight.mul_(keep).alias().MoveToOuterDisposeScope();
    }
}
