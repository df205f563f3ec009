using static TorchSharp.torch;

namespace Copal.Pruning.Metrics;

/// <summary>Wanda: S[o,c] = |W[o,c]| * sqrt(sum_t X[t,c]^2). The statistic is the column sum of squares.</summary>
public sealed class WandaMetric : ScoreMetric
{
    public override string Name => "wanda";

    public override long[] StatisticShape(long outFeatures, long inFeatures) => [inFeatures];

    public override void Accumulate(Tensor statistic, Tensor weight, Tensor x, Tensor? y, CalibrationSite site)
    {
        using var squares = x.square().sum(dim: 0);
        statistic.add_(squares);
    }

    public override Tensor Scores(Tensor weight, Tensor? accumulated)
    {
        ArgumentNullException.ThrowIfNull(accumulated);
        using var norms = accumulated.sqrt();
        return weight.abs() * norms.unsqueeze(0);
    }
}
