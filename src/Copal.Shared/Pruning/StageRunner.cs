using Copal.Model;
using Copal.Nn;
using Copal.Pruning.Metrics;
using static TorchSharp.torch;
using Copal.Stages;

namespace Copal.Pruning;

/// <summary>Where one stage reads and writes, for the layers one runner owns.</summary>
public sealed record StageIo(
    int Stage,
    CheckpointReader? ScoredWeights,
    ImportanceAccumulator Accumulator,
    CheckpointShardWriter Shard,
    SparsityReport Sparsity);

/// <summary>
/// Runs one stage over a range of decoder layers, layer after layer over all calibration
/// samples (a wave): gather statistics, fold them into the accumulator, prune, write the
/// pruned layer, and hand the layer's outputs to the next layer.
/// </summary>
public sealed class StageRunner(LlamaModel model, PruningSettings settings, IImportanceMetric metric, ComputeOptions compute)
{
    /// <param name="hidden">[n, L, H] inputs of the first layer; disposed, replaced by the returned outputs.</param>
    public Tensor Run(StageIo io, Tensor hidden, IReadOnlyList<int> layers, RotaryEmbedding rope, Action<int>? layerDone = null)
    {
        foreach (var layer in layers)
        {
            var next = RunLayer(io, hidden, layer, rope);
            if (!ReferenceEquals(next, hidden))
            {
                hidden.Dispose();
            }

            hidden = next;
            layerDone?.Invoke(layer);
        }

        return hidden;
    }

    private Tensor RunLayer(StageIo io, Tensor hidden, int layer, RotaryEmbedding rope)
    {
        // Whatever the layer leaves behind is freed here, not when the GC gets to it.
        using var scope = NewDisposeScope();
        using var dense = model.LoadLayer(layer, compute.DType);
        using var previous = io.ScoredWeights is null ? null : DecoderLayerWeights.Load(io.ScoredWeights, layer, compute.DType);
        var scored = previous ?? dense;
        var forward = settings.Propagation == Propagation.Dense ? dense : scored;

        using var calibration = new LayerCalibration(metric, scored, ReferenceEquals(forward, scored), io.Stage, layer);
        Tensor? output = null;
        if (metric.UsesCalibration)
        {
            output = LayerwiseRunner.ApplyLayer(hidden, forward, model.Config, rope, compute, calibration, start => calibration.BatchStart = start);
        }

        using var pruned = calibration.Finish(io.Accumulator, settings.Mask);
        if (metric.UsesCalibration && settings.Propagation == Propagation.Pruned)
        {
            output!.Dispose();
            output = LayerwiseRunner.ApplyLayer(hidden, pruned, model.Config, rope, compute, null);
        }

        io.Shard.WriteLayer(layer, pruned);
        foreach (var linear in LlamaLinear.All)
        {
            io.Sparsity.Count(TensorNames.Linear(layer, linear), pruned[linear]);
        }

        // Metrics without calibration never need activations: the same tensor passes on untouched.
        return output?.MoveToOuterDisposeScope() ?? hidden;
    }
}
