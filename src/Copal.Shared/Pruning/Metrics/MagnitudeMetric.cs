using Copal.Pruning.Kernels;
using static TorchSharp.torch;

namespace Copal.Pruning.Metrics;

/// <summary>S = |W|: no calibration data.</summary>
public sealed class MagnitudeMetric : ScoreMetric
{
    public override string Name => "magnitude";

    public override MaskGroup DefaultGroup => MaskGroup.Matrix;

    public override bool UsesCalibration => false;

    public override long[] StatisticShape(long outFeatures, long inFeatures) => [];

    public override long FlopsPerToken(long outFeatures, long inFeatures) => 0;

    public override void Accumulate(Tensor x, IReadOnlyList<ObservedLinear> linears)
    {
    }

    public override Tensor Scores(Tensor weight, Tensor? accumulated) => weight.abs();

    protected override bool PruneRows(Tensor weight, Tensor? accumulated, long prune)
    {
        RowSelection.PruneRows(weight, null, null, prune);
        return true;
    }
}
