using Copal.Model;
using Copal.Nn;
using Copal.Pruning.Metrics;
using static TorchSharp.torch;

namespace Copal.Pruning;

/// <summary>
/// One layer's part of a stage: it observes the linears during calibration forwards, gathers
/// the metric's statistics, and at the end folds them into the accumulator and prunes.
/// </summary>
public sealed class LayerCalibration : ILinearObserver, IDisposable
{
    private readonly IImportanceMetric metric;
    private readonly DecoderLayerWeights scored;
    private readonly bool forwardUsesScored;
    private readonly int stage;
    private readonly int layer;
    private readonly Tensor?[] weights32 = new Tensor?[LlamaLinear.All.Count];
    private readonly Tensor?[] statistics;

    /// <param name="scored">The weights being pruned (dense, or the previous stage's for sequential).</param>
    /// <param name="forwardUsesScored">False when the calibration forward runs other weights (dense propagation of a sequential run).</param>
    public LayerCalibration(IImportanceMetric metric, DecoderLayerWeights scored, bool forwardUsesScored, int stage, int layer)
    {
        this.metric = metric;
        this.scored = scored;
        this.forwardUsesScored = forwardUsesScored;
        this.stage = stage;
        this.layer = layer;
        statistics = LlamaLinear.All.Select(l =>
        {
            var weight = scored[l];
            var shape = metric.StatisticShape(weight.shape[0], weight.shape[1]);
            if (shape.Length == 0)
            {
                return null;
            }

            // As large as the weight for copal. zero_ hands back a second handle, released at once.
            var statistic = TensorMemory.EmptyOnHugePages(shape, ScalarType.Float32).DetachFromDisposeScope();
            statistic.zero_().Dispose();
            return statistic;
        }).ToArray();
    }

    /// <summary>Index of the first calibration sample in the micro-batch being observed.</summary>
    public long BatchStart { get; set; }

    public void Observe(IReadOnlyList<LlamaLinear> linears, Tensor input, IReadOnlyList<Tensor> outputs)
    {
        if (linears.All(l => statistics[l.Index] is null))
        {
            return;
        }

        using var phase = PhaseClock.Measure(PhaseClock.Importance);
        using var scope = NewDisposeScope();
        // The metric's operands: as the forward made them, or in float32.
        Tensor Operand(Tensor t) => metric.AcceptsComputeDType ? Rows(t) : Rows32(t);
        var x = Operand(input);
        var observed = new List<ObservedLinear>(linears.Count);
        for (var j = 0; j < linears.Count; j++)
        {
            var index = linears[j].Index;
            if (statistics[index] is not { } statistic)
            {
                continue;
            }

            Tensor? y = null;
            if (metric.UsesOutput)
            {
                y = forwardUsesScored ? Operand(outputs[j]) : nn.functional.linear(x, x.dtype == ScalarType.Float32 ? Weight32(index) : scored.Linears[index]);
            }

            // The weight as scored, not its float32 copy: held for every layer of a pipeline stage,
            // copies would add 4 bytes per weight in bfloat16 runs; Finish makes one linear's at a time.
            observed.Add(new ObservedLinear(statistic, scored.Linears[index], y, new CalibrationSite(stage, layer, index, BatchStart)));
        }

        metric.Accumulate(x, observed);
    }

    /// <summary>
    /// Folds the statistics into the accumulator (saving the new state) and returns the pruned
    /// layer. It goes one linear at a time and releases each statistic once it is folded, so
    /// memory shrinks as it goes. The scored weights are consumed: in float32 they are pruned in
    /// place and the returned layer shares them.
    /// </summary>
    public DecoderLayerWeights Finish(ImportanceAccumulator accumulator, MaskPolicy policy)
    {
        using var phase = PhaseClock.Measure(PhaseClock.Mask);
        var pruned = new Tensor[LlamaLinear.All.Count];
        try
        {
            foreach (var linear in LlamaLinear.All)
            {
                using var scope = NewDisposeScope();
                var index = linear.Index;
                var weight = Weight32(index);
                Tensor? accumulated = null;
                if (statistics[index] is { } statistic)
                {
                    accumulated = metric.Fold(accumulator.Previous(layer, linear), statistic, weight);
                    accumulator.Save(layer, linear, accumulated);
                }

                var result = metric.Prune(weight, accumulated, policy);
                var dtype = scored[linear].dtype;
                pruned[index] = (result.dtype == dtype ? result.alias() : result.to_type(dtype)).MoveToOuterDisposeScope();
                statistics[index]?.Dispose();
                statistics[index] = null;
                weights32[index]?.Dispose();
                weights32[index] = null;
            }
        }
        catch
        {
            foreach (var t in pruned)
            {
                t?.Dispose();
            }

            throw;
        }

        return scored.WithLinears(pruned);
    }

    public void Dispose()
    {
        foreach (var t in weights32.Concat(statistics))
        {
            t?.Dispose();
        }
    }

    /// <summary>The scored weight in float32: the tensor itself in float32 compute, else a converted copy.</summary>
    private Tensor Weight32(int index)
    {
        if (weights32[index] is null)
        {
            var weight = scored.Linears[index];
            weights32[index] = (weight.dtype == ScalarType.Float32 ? weight.alias() : weight.to_type(ScalarType.Float32)).DetachFromDisposeScope();
        }

        return weights32[index]!;
    }

    private static Tensor Rows(Tensor t) => t.reshape(-1, t.shape[^1]);

    private static Tensor Rows32(Tensor t)
    {
        var rows = Rows(t);
        return rows.dtype == ScalarType.Float32 ? rows : rows.to_type(ScalarType.Float32);
    }
}
