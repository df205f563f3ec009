using Copal.Pruning;
using static TorchSharp.torch;

namespace Copal.Stages;

/// <summary>
/// All micro-batches are gathered, then the shard's layers run one after another over all of
/// them, one layer in memory at a time. With pruned propagation each layer's outputs come from
/// its pruned weights, so the next layer calibrates on what the pruned model computes.
/// </summary>
public sealed class WaveSchedule(ShardContext shard, StageIo io, Action<int>? layerDone) : IStageSchedule
{
    private List<MicroBatch> batches = new();
    private bool finished;

    public Tensor? Calibrate(long firstSample, Tensor hidden)
    {
        batches.Add(new MicroBatch(firstSample, hidden));
        return null;
    }

    public IReadOnlyList<MicroBatch> EndCalibration()
    {
        finished = true;
        using var noGrad = no_grad();
        foreach (var layer in shard.Range.Layers)
        {
            RunLayer(layer);
            layerDone?.Invoke(layer);
        }

        var outputs = batches;
        batches = new();
        return outputs;
    }

    public void FinishLayers()
    {
        if (!finished)
        {
            EndCalibration().ToList().ForEach(b => b.Dispose());
        }
    }

    /// <summary>Calibrates and finishes one layer over every micro-batch, which it replaces with the layer's outputs.</summary>
    private void RunLayer(int layer)
    {
        using var stage = new LayerStage(shard, io, layer);
        var propagatePruned = shard.Settings.Propagation == Propagation.Pruned;
        var outputs = new List<MicroBatch>(batches.Count);
        try
        {
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                var output = stage.Calibrate(batch.FirstSample, batch.Hidden);
                if (!propagatePruned)
                {
                    outputs.Add(new MicroBatch(batch.FirstSample, output.MoveToOuterDisposeScope()));
                }
            }

            using var pruned = stage.Finish();
            if (propagatePruned)
            {
                foreach (var batch in batches)
                {
                    using var scope = NewDisposeScope();
                    var output = Nn.LlamaOps.DecoderLayer(batch.Hidden, pruned, shard.Model.Config, shard.Rope, null);
                    outputs.Add(new MicroBatch(batch.FirstSample, output.MoveToOuterDisposeScope()));
                }
            }
        }
        catch
        {
            outputs.ForEach(b => b.Dispose());
            throw;
        }

        batches.ForEach(b => b.Dispose());
        batches = outputs;
    }

    public void Dispose() => batches.ForEach(b => b.Dispose());
}
