using Copal.Pruning.Kernels;
using static TorchSharp.torch;

namespace Copal.Pruning.Metrics;

/// <summary>
/// COPAL (Malla et al., 2024, Algorithm 1, linear case): the sensitivity of the layer output to
/// perturbations, as a directional derivative accumulated over datasets:
/// W*_i = W*_(i-1) + sum_t |W . 2 dy_t x_t^T|. The statistic of a stage is sum_t |dy_t| |x_t|^T
/// ([out, in]); folding multiplies it by |W|. For the relative model dy = 2 eps y, and the
/// constant factor is dropped (it changes no ranking).
/// </summary>
public sealed class CopalMetric(Perturbation perturbation, ImportancePrecision precision) : ScoreMetric
{
    public override string Name => "copal";

    public override Propagation DefaultPropagation => Propagation.Dense;

    public override Strategy DefaultStrategy => Strategy.Copal;

    public override bool HasImportanceGemm => true;

    public override bool UsesOutput => perturbation.Model == PerturbationModel.Relative;

    // |Y|^T |X| straight from the forward's tensors: in bfloat16 runs the operands are bfloat16
    // already, and the GEMM takes them as they are where that is faster (AMX), into float32 statistics.
    public override bool AcceptsComputeDType => UsesOutput;

    public Perturbation Perturbation => perturbation;

    public override long[] StatisticShape(long outFeatures, long inFeatures) => [outFeatures, inFeatures];

    /// <summary>One more GEMM per linear, |Y|^T |X| into W*: a multiply-add per weight.</summary>
    public override long FlopsPerToken(long outFeatures, long inFeatures) => checked(2 * outFeatures * inFeatures);

    public override void Accumulate(Tensor x, IReadOnlyList<ObservedLinear> linears)
    {
        using var scope = NewDisposeScope();
        var outputChanges = linears.Select(l => (perturbation.Model == PerturbationModel.Relative
            ? l.Output ?? throw new ArgumentException("the relative perturbation needs each linear's output", nameof(linears))
            : GaussianOutputChange(l.Weight, x, l.Site), l.Statistic)).ToList();

        // One extra GEMM per shared input: [out, tokens] x [tokens, in] for every linear reading x.
        AbsGemm.Accumulate(x, outputChanges, precision);
    }

    /// <summary>dy = dW x + W dx with dW = E |W| . xi and dx = E |x| . zeta, seeded by the site.</summary>
    private Tensor GaussianOutputChange(Tensor scored, Tensor x, CalibrationSite site)
    {
        // x is float32 here; the scored weight is in the compute dtype, converted per micro-batch rather than held.
        var weight = scored.to_type(x.dtype);
        using var generator = new TorchSharp.torch.Generator((ulong)SeedFor(site));
        var xi = randn(weight.shape, generator: generator);
        var zeta = randn(x.shape, generator: generator);
        var dW = weight.abs() * xi * perturbation.Epsilon;
        var dx = x.abs() * zeta * perturbation.Epsilon;
        return nn.functional.linear(x, dW) + nn.functional.linear(dx, weight);
    }

    // A fixed mix (not HashCode, which is randomised per process) so every node draws the same noise.
    private long SeedFor(CalibrationSite site)
    {
        var h = (ulong)perturbation.Seed;
        foreach (var part in new[] { site.Stage, site.Layer, site.Linear, site.FirstSample })
        {
            h = SplitMix((h ^ (ulong)part) + 0x9E3779B97F4A7C15UL);
        }

        return (long)(h >> 1);
    }

    private static ulong SplitMix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public override Tensor Fold(Tensor? carried, Tensor statistic, Tensor weight)
    {
        // In place: |W| . statistic, plus what earlier stages carried.
        using (var magnitude = weight.abs())
        {
            statistic.mul_(magnitude);
        }

        return carried is null ? statistic.alias() : statistic.add_(carried).alias();
    }

    protected override bool PruneRows(Tensor weight, Tensor? accumulated, long prune)
    {
        ArgumentNullException.ThrowIfNull(accumulated);
        if (!RowSelection.Supports(accumulated))
        {
            return false;
        }

        RowSelection.PruneRows(weight, accumulated, null, prune);
        return true;
    }

    public override Tensor Scores(Tensor weight, Tensor? accumulated) =>
        (accumulated ?? throw new ArgumentNullException(nameof(accumulated))).alias();
}
