using static TorchSharp.torch;

namespace Copal.Pruning.Metrics;

/// <summary>Identifies one micro-batch of one linear, so seeded noise is the same wherever it runs.</summary>
public readonly record struct CalibrationSite(int Stage, int Layer, int Linear, long FirstSample);

/// <summary>
/// One linear in a micro-batch: its statistic (updated in place, float32), the weight being scored
/// (in the compute dtype), and its output y = x W^T [tokens, out] when the metric uses outputs (float32, or the
/// compute dtype for a metric that <see cref="IImportanceMetric.AcceptsComputeDType">accepts it</see>).
/// </summary>
public sealed record ObservedLinear(Tensor Statistic, Tensor Weight, Tensor? Output, CalibrationSite Site);

/// <summary>
/// An importance metric as plain functions over tensors. A stage gathers a statistic per linear
/// from calibration micro-batches, folds it into the accumulator carried between stages, and
/// prunes a weight from the accumulated value.
/// </summary>
public interface IImportanceMetric
{
    /// <summary>The method's name on the command line and in reports.</summary>
    string Name { get; }

    /// <summary>Which scores compete when nothing else is asked for.</summary>
    MaskGroup DefaultGroup { get; }

    /// <summary>Where each layer's calibration inputs come from when nothing else is asked for.</summary>
    Propagation DefaultPropagation { get; }

    /// <summary>The continual strategy a run of this method uses when nothing else is asked for.</summary>
    Strategy DefaultStrategy { get; }

    /// <summary>
    /// True when pruning changes the weights it keeps (SparseGPT's updates); false when it only
    /// zeroes some, so a stage can be stored as keep-masks of the model.
    /// </summary>
    bool ChangesWeights { get; }

    /// <summary>False for metrics that need no calibration data (magnitude).</summary>
    bool UsesCalibration { get; }

    /// <summary>True when the metric has an importance GEMM whose operands <see cref="ImportancePrecision"/> rounds.</summary>
    bool HasImportanceGemm { get; }

    /// <summary>True when <see cref="Accumulate"/> needs y = x W^T computed with the weight being scored.</summary>
    bool UsesOutput { get; }

    /// <summary>
    /// True when <see cref="Accumulate"/> takes x and the outputs in the compute dtype (bfloat16
    /// when the run computes in bfloat16) rather than converted to float32; statistics stay float32.
    /// </summary>
    bool AcceptsComputeDType { get; }

    /// <summary>Shape of the per-linear statistic (and accumulator) for a weight [out, in].</summary>
    long[] StatisticShape(long outFeatures, long inFeatures);

    /// <summary>Bytes of the float32 statistic a stage holds for a weight [out, in].</summary>
    long StateBytes(long outFeatures, long inFeatures)
    {
        var shape = StatisticShape(outFeatures, inFeatures);
        return shape.Length == 0 ? 0 : checked(shape.Aggregate((long)sizeof(float), (bytes, size) => bytes * size));
    }

    /// <summary>
    /// The metric's own FLOPs per calibration token for a weight [out, in], beside the forward's
    /// (a one-off solve at the end of a stage is not counted).
    /// </summary>
    long FlopsPerToken(long outFeatures, long inFeatures);

    /// <summary>
    /// Adds one micro-batch of the linears that read the same input x [tokens, in] (float32 unless
    /// <see cref="AcceptsComputeDType"/>):
    /// q/k/v, o, gate/up or down. Whatever depends on x alone is computed once for all of them.
    /// </summary>
    void Accumulate(Tensor x, IReadOnlyList<ObservedLinear> linears);

    /// <summary>
    /// The accumulator after this stage: carried (null = nothing yet) plus this stage's statistic.
    /// The statistic is consumed: it may be updated in place and returned.
    /// </summary>
    Tensor Fold(Tensor? carried, Tensor statistic, Tensor weight);

    /// <summary>
    /// The pruned weight (float32) chosen with the accumulated statistic. The weight is consumed:
    /// it may be pruned in place and returned.
    /// </summary>
    Tensor Prune(Tensor weight, Tensor? accumulated, MaskPolicy policy);
}
