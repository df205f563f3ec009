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
    private readonly Tensor[] weights32;
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
        weights32 = scored.Linears.Select(w => w.to_type(ScalarType.Float32)).ToArray();
        statistics = LlamaLinear.All.Select(l =>
        {
            var shape = metric.StatisticShape(weights32[l.Index].shape[0], weights32[l.Index].shape[1]);
            return shape.Length == 0 ? null : zeros(shape, ScalarType.Float32);
        }).ToArray();
    }

    /// <summary>Index of the first calibration sample in the micro-batch being observed.</summary>
    public long BatchStart { get; set; }

    public void Observe(LlamaLinear linear, Tensor input, Tensor output)
    {
        var statistic = statistics[linear.Index];
        if (statistic is null)
        {
            return;
        }

        using var scope = NewDisposeScope();
        var x = input.reshape(-1, input.shape[^1]).to_type(ScalarType.Float32);
        Tensor? y = null;
        if (metric.UsesOutput)
        {
            y = forwardUsesScored
                ? output.reshape(-1, output.shape[^1]).to_type(ScalarType.Float32)
                : nn.functional.linear(x, weights32[linear.Index]);
        }

        metric.Accumulate(statistic, weights32[linear.Index], x, y, new CalibrationSite(stage, layer, linear.Index, BatchStart));
    }

    /// <summary>Folds the statistics into the accumulator (saving the new state) and returns the pruned layer.</summary>
    public DecoderLayerWeights Finish(ImportanceAccumulator accumulator, MaskPolicy policy)
    {
        var pruned = new Tensor[LlamaLinear.All.Count];
        foreach (var linear in LlamaLinear.All)
        {
            using var scope = NewDisposeScope();
            var weight = weights32[linear.Index];
            Tensor? accumulated = null;
            if (statistics[linear.Index] is { } statistic)
            {
                accumulated = metric.Fold(accumulator.Previous(layer, linear), statistic, weight);
                accumulator.Save(layer, linear, accumulated);
            }

            pruned[linear.Index] = metric.Prune(weight, accumulated, policy).to_type(scored[linear].dtype).MoveToOuterDisposeScope();
        }

        return scored.WithLinears(pruned);
    }

    public void Dispose()
    {
        foreach (var t in weights32)
        {
            t.Dispose();
        }

        foreach (var t in statistics)
        {
            t?.Dispose();
        }
    }
}
