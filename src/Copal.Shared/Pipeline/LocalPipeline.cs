using Copal.Evaluation;
using Copal.Model;
using Copal.Nn;
using Copal.Pruning;
using static TorchSharp.torch;
using Copal.Stages;

namespace Copal.Pipeline;

/// <summary>
/// All layers in one shard in this process, run as a wave: one layer in memory at a time, so a
/// model far larger than RAM can be pruned on one machine.
/// </summary>
public sealed class LocalPipeline(LlamaModel model, PruningSettings settings, ComputeOptions compute) : IPruningPipeline
{
    private readonly ShardEngine engine = new(model, new LayerRange(0, model.Config.NumHiddenLayers - 1), settings, compute);
    private string task = "stage";

    public StageSchedule ScheduleFor(Propagation propagation) => StageSchedule.Wave;

    public void BeginStage(StageAssignment assignment)
    {
        task = $"stage {assignment.Stage} {assignment.Dataset}";
        engine.BeginStage(assignment);
    }

    public void Calibrate(long firstSample, Tensor hidden) => engine.Calibrate(firstSample, hidden)?.Dispose();

    public IReadOnlyList<ShardReport> FinishStage(IProgress<WorkProgress>? progress)
    {
        engine.LayerDone = layer => progress?.Report(new WorkProgress(task, layer + 1, model.Config.NumHiddenLayers));
        engine.EndCalibration()?.Dispose();
        return [engine.FinishStage()];
    }

    /// <summary>Holds one decoder layer, or the lm_head, at a time: nothing of the model stays loaded between calls.</summary>
    public PerplexityResult Evaluate(string? checkpoint, string dataset, int[] tokens, int seqLen, int? maxWindows, IProgress<WorkProgress>? progress)
    {
        using var reader = checkpoint is null ? null : CheckpointReader.Open(checkpoint);
        var source = reader ?? model.Weights;
        return Perplexity.Evaluate(dataset, tokens, seqLen, maxWindows, model, l => DecoderLayerWeights.Load(source, l, compute.DType), compute, progress);
    }

    public void Dispose()
    {
        engine.Dispose();
    }
}
