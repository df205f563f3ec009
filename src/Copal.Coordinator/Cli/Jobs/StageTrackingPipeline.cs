using Copal.Evaluation;
using Copal.Pipeline;
using Copal.Pruning;
using Copal.Stages;
using static TorchSharp.torch;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>A pipeline that tells a <see cref="StageTracker"/> which stage it runs and how far the stage's shards are.</summary>
internal sealed class StageTrackingPipeline(IPruningPipeline inner, StageTracker tracker) : IPruningPipeline
{
    private int stage;

    public StageSchedule ScheduleFor(Propagation propagation) => inner.ScheduleFor(propagation);

    public void BeginStage(StageAssignment assignment)
    {
        stage = assignment.Stage;
        tracker.Began(stage);
        inner.BeginStage(assignment);
    }

    public void Calibrate(long firstSample, Tensor hidden) => inner.Calibrate(firstSample, hidden);

    public IReadOnlyList<ShardReport> FinishStage(IProgress<WorkProgress>? progress)
    {
        var reports = inner.FinishStage(new StageProgress(stage, tracker, progress));
        tracker.Done(stage);
        return reports;
    }

    public PerplexityResult Evaluate(string? checkpoint, string dataset, int[] tokens, int seqLen, int? maxWindows, IProgress<WorkProgress>? progress) =>
        inner.Evaluate(checkpoint, dataset, tokens, seqLen, maxWindows, progress);

    public void Dispose() => inner.Dispose();

    /// <summary>Records each report of the stage's work and passes it on.</summary>
    private sealed class StageProgress(int stage, StageTracker tracker, IProgress<WorkProgress>? inner) : IProgress<WorkProgress>
    {
        public void Report(WorkProgress value)
        {
            tracker.Reported(stage, value);
            inner?.Report(value);
        }
    }
}
