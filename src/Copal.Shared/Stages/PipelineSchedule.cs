using Copal.Pruning;
using static TorchSharp.torch;

namespace Copal.Stages;

/// <summary>
/// Each micro-batch runs through all of the shard's layers as it arrives, so shards on different
/// nodes work at once. Every layer is held for the whole stage; it serves dense propagation only,
/// where a layer's input does not depend on the layers before it being pruned.
/// </summary>
public sealed class PipelineSchedule : IStageSchedule
{
    private readonly List<LayerStage> layers = new();
    private readonly IReadOnlyList<int> indices;
    private readonly Action<int>? layerDone;
    private bool finished;

    public PipelineSchedule(ShardContext shard, StageIo io, Action<int>? layerDone)
    {
        if (shard.Settings.Propagation != Propagation.Dense)
        {
            throw new InvalidOperationException("pruned propagation needs the wave schedule");
        }

        indices = shard.Range.Layers;
        this.layerDone = layerDone;
        try
        {
            foreach (var layer in indices)
            {
                layers.Add(new LayerStage(shard, io, layer));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public Tensor? Calibrate(long firstSample, Tensor hidden)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var h = hidden;
        foreach (var layer in layers)
        {
            h = layer.Calibrate(firstSample, h);
        }

        hidden.Dispose();
        return h.MoveToOuterDisposeScope();
    }

    public IReadOnlyList<MicroBatch> EndCalibration() => [];

    public void FinishLayers()
    {
        if (finished)
        {
            return;
        }

        finished = true;
        foreach (var (layer, index) in layers.Zip(indices))
        {
            layer.Finish().Dispose();
            layerDone?.Invoke(index);
        }
    }

    public void Dispose() => layers.ForEach(l => l.Dispose());
}
