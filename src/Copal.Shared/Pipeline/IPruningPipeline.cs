using Copal.Evaluation;
using Copal.Stages;
using static TorchSharp.torch;

namespace Copal.Pipeline;

/// <summary>
/// Where a run's shards live: in this process, or on cluster nodes. The run (calibration
/// inputs, checkpoints, evaluation bookkeeping) is the same either way.
/// </summary>
public interface IPruningPipeline : IDisposable
{
    /// <summary>The schedule this pipeline runs for a propagation mode.</summary>
    StageSchedule ScheduleFor(Pruning.Propagation propagation);

    void BeginStage(StageAssignment assignment);

    /// <summary>Feeds one calibration micro-batch [b, L, H] into the first shard; takes ownership.</summary>
    void Calibrate(long firstSample, Tensor hidden);

    /// <summary>Ends the stage's input; every shard prunes and writes its files.</summary>
    IReadOnlyList<ShardReport> FinishStage(IProgress<WorkProgress>? progress);

    /// <summary>Perplexity of token windows through a checkpoint's layers (null: the dense model).</summary>
    PerplexityResult Evaluate(string? checkpoint, string dataset, int[] tokens, int seqLen, int? maxWindows, IProgress<WorkProgress>? progress);
}
