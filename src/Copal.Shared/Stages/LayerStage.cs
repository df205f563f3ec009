using Copal.Model;
using Copal.Nn;
using Copal.Pruning;
using static TorchSharp.torch;

namespace Copal.Stages;

/// <summary>
/// One layer's part of a stage, the step both schedules run: calibration micro-batches through
/// the layer, observed by the metric, then finishing it (fold into the accumulator, prune, write,
/// count). A wave opens one layer at a time; a pipeline opens all of its shard's layers at once.
/// </summary>
public sealed class LayerStage : IDisposable
{
    private readonly ShardContext shard;
    private readonly StageIo io;
    private readonly int layer;
    private readonly DecoderLayerWeights? dense;
    private readonly DecoderLayerWeights? previous;
    private readonly DecoderLayerWeights forward;
    private readonly LayerCalibration calibration;

    public LayerStage(ShardContext shard, StageIo io, int layer)
    {
        this.shard = shard;
        this.io = io;
        this.layer = layer;
        var dtype = shard.Compute.DType;
        previous = io.Scored is null ? null : DecoderLayerWeights.Load(io.Scored, shard.Model.Config, layer, dtype);

        // Dense weights are read only when pruned or run: a sequential run propagating through its pruned layers needs none.
        var dense = previous is null || shard.Settings.Propagation == Propagation.Dense;
        this.dense = dense ? shard.Model.LoadLayer(layer, dtype) : null;
        var scored = previous ?? this.dense!;
        forward = shard.Settings.Propagation == Propagation.Dense ? this.dense! : scored;
        calibration = new LayerCalibration(shard.Metric, scored, ReferenceEquals(forward, scored), io.Stage, layer);
    }

    /// <summary>One calibration micro-batch through the layer, observed; the caller keeps the input and owns the output.</summary>
    public Tensor Calibrate(long firstSample, Tensor hidden)
    {
        calibration.BatchStart = firstSample;
        return LlamaOps.DecoderLayer(hidden, forward, shard.Model.Config, shard.Rope, calibration);
    }

    /// <summary>Folds, prunes, writes and counts the layer; returns the pruned layer (the caller disposes it).</summary>
    public DecoderLayerWeights Finish()
    {
        var pruned = calibration.Finish(io.Accumulator, shard.Settings.Mask);
        io.Shard.WriteLayer(layer, pruned);
        foreach (var linear in LlamaLinear.All)
        {
            io.Sparsity.Count(TensorNames.Linear(layer, linear), pruned[linear]);
        }

        return pruned;
    }

    public void Dispose()
    {
        calibration.Dispose();
        previous?.Dispose();
        dense?.Dispose();
    }
}
