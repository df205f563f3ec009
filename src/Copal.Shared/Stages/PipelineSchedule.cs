using Copal.Pruning;
using static TorchSharp.torch;

namespace Copal.Stages;

/// <summary>
/// Each micro-batch runs through all of the shard's layers as it arrives, so shards on different
/// nodes work at once. Every layer is held for the whole stage; it serves dense propagation only,
/// where a layer's input does not depend on the layers before it being pruned. When the stage's
/// sample count is known, each layer is finished as soon as the last micro-batch has passed it, so
/// its files are written while the layers after it still compute.
/// </summary>
public sealed class PipelineSchedule : IStageSchedule
{
    private readonly List<LayerStage> layers = new();
    private readonly IReadOnlyList<int> indices;
    private readonly long samples;
    private readonly Action<int>? layerDone;
    private readonly bool[] finished;

    /// <param name="samples">The stage's calibration samples; 0 when not known (every layer is finished at the end).</param>
    public PipelineSchedule(ShardContext shard, StageIo io, long samples, Action<int>? layerDone)
    {
        if (shard.Settings.Propagation != Propagation.Dense)
        {
            throw new InvalidOperationException("pruned propagation needs the wave schedule");
        }

        indices = shard.Range.Layers;
        this.samples = samples;
        this.layerDone = layerDone;
        finished = new bool[indices.Count];
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
        var last = samples > 0 && firstSample + hidden.shape[0] >= samples;
        var h = hidden;
        for (var i = 0; i < layers.Count; i++)
        {
            h = layers[i].Calibrate(firstSample, h);
            if (last)
            {
                Finish(i);
            }
        }

        hidden.Dispose();
        return h.MoveToOuterDisposeScope();
    }

    public IReadOnlyList<MicroBatch> EndCalibration() => [];

    public void FinishLayers()
    {
        for (var i = 0; i < layers.Count; i++)
        {
            Finish(i);
        }
    }

    private void Finish(int i)
    {
        if (finished[i])
        {
            return;
        }

        finished[i] = true;
        layers[i].Finish().Dispose();
        layerDone?.Invoke(indices[i]);
    }

    public void Dispose() => layers.ForEach(l => l.Dispose());
}
