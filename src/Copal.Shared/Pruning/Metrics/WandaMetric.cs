using Copal.Pruning.Kernels;
using static TorchSharp.torch;

namespace Copal.Pruning.Metrics;

/// <summary>Wanda: S[o,c] = |W[o,c]| * sqrt(sum_t X[t,c]^2). The statistic is the column sum of squares.</summary>
public sealed class WandaMetric : ScoreMetric
{
    public override string Name => "wanda";

    public override long[] StatisticShape(long outFeatures, long inFeatures) => [inFeatures];

    /// <summary>The squared column norms of the input: a multiply-add per input feature.</summary>
    public override long FlopsPerToken(long outFeatures, long inFeatures) => checked(2 * inFeatures);

    public override void Accumulate(Tensor x, IReadOnlyList<ObservedLinear> linears)
    {
        // One column sum of squares per shared input, added to each linear reading it.
        using var squares = ColumnSquares.Of(x);
        foreach (var linear in linears)
        {
            linear.Statistic.add_(squares);
        }
    }

    protected override bool PruneRows(Tensor weight, Tensor? accumulated, long prune)
    {
        ArgumentNullException.ThrowIfNull(accumulated);
        using var norms = accumulated.sqrt();
        RowSelection.PruneRows(weight, null, norms, prune);
        return true;
    }

    public override Tensor Scores(Tensor weight, Tensor? accumulated)
    {
        ArgumentNullException.ThrowIfNull(accumulated);
        using var norms = accumulated.sqrt();
        return weight.abs().mul_(norms.unsqueeze(0));
    }
}
