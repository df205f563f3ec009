using Copal.Evaluation;
using Copal.Model;
using Copal.Planning;
using Copal.Pruning;
using Copal.Stages;
using static TorchSharp.torch;

namespace Copal.Pipeline;

/// <summary>
/// All layers in one shard in this process. Dense propagation runs the pipeline schedule, as a
/// cluster node does, while every layer with its method state fits in half of the memory
/// available; beyond that, and for pruned propagation, the wave holds one layer at a time, so a
/// model far larger than RAM can be pruned on one machine. Both give the same bits.
/// </summary>
/// <param name="pipelineBudget">Bytes the pipeline schedule may hold; null: half of the memory available.</param>
public sealed class LocalPipeline(LlamaModel model, PruningSettings settings, ComputeOptions compute, long? pipelineBudget = null) : IPruningPipeline
{
    private readonly ShardEngine engine = new(model, new LayerRange(0, model.Config.NumHiddenLayers - 1), settings, compute);
    private string task = "stage";

    public StageSchedule ScheduleFor(Propagation propagation) =>
        propagation == Propagation.Dense && PipelineBytes() <= (pipelineBudget ?? (GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2))
            ? StageSchedule.Pipeline
            : StageSchedule.Wave;

    /// <summary>
    /// What the pipeline schedule holds at once, per weight of every layer: the dense and the
    /// scored weights in the compute dtype (a sequential stage holds both), and the method's state.
    /// </summary>
    private long PipelineBytes()
    {
        var weightBytes = 2L * (compute.DType == ScalarType.Float32 ? sizeof(float) : sizeof(ushort));
        var perLayer = checked((CostModel.LinearParams(model.Config) * weightBytes) + CostModel.LayerMethodStateBytes(model.Config, settings.Method));
        return checked(perLayer * model.Config.NumHiddenLayers);
    }

    public void BeginStage(StageAssignment assignment)
    {
        task = $"stage {assignment.Stage} {assignment.Dataset}";
        engine.BeginStage(assignment);
    }

    public void Calibrate(long firstSample, Tensor hidden) => engine.Calibrate(firstSample, hidden)?.Dispose();

    public IReadOnlyList<ShardReport> FinishStage(IProgress<WorkProgress>? progress)
    {
        engine.LayerDone = layer => progress?.Report(new WorkProgress(task, layer + 1, model.Config.NumHiddenLayers));
        foreach (var output in engine.EndCalibration())
        {
            output.Dispose();
        }

        return [engine.FinishStage()];
    }

    /// <summary>Holds one decoder layer, or the lm_head, at a time: nothing of the model stays loaded between calls.</summary>
    public PerplexityResult Evaluate(string? checkpoint, string dataset, int[] tokens, int seqLen, int? maxWindows, IProgress<WorkProgress>? progress)
    {
        using var layers = LayerSource.Open(model, checkpoint);
        return Perplexity.Evaluate(dataset, tokens, seqLen, maxWindows, model, layers, compute, progress);
    }

    public void Dispose()
    {
        engine.Dispose();
    }
}
