using Copal.Pipeline;
using Copal.Pruning;
using Copal.Runs;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>
/// The stage a run works on and the share of it done, for its live status: recorded from the run's
/// own pipeline and finished stages, as the stage gauges are written for export only.
/// </summary>
internal sealed class StageTracker
{
    private readonly Lock gate = new();
    private int stage;
    private double progress;

    /// <summary>The stage in progress (0 before the first) and its share done, 0..1.</summary>
    public (int Stage, double Progress) Current
    {
        get
        {
            lock (gate)
            {
                return (stage, progress);
            }
        }
    }

    /// <summary><paramref name="pipeline"/>, with the stages it runs recorded here.</summary>
    public IPruningPipeline Track(IPruningPipeline pipeline) => new StageTrackingPipeline(pipeline, this);

    /// <summary>A stage is over: computed, or reused from the journal without reaching the pipeline.</summary>
    public void Finished(StageResult result) => Done(result.Stage);

    public void Began(int index) => Set(index, 0);

    public void Reported(int index, WorkProgress value) => Set(index, value.Total == 0 ? 0 : Math.Min(1, (double)value.Done / value.Total));

    public void Done(int index) => Set(index, 1);

    private void Set(int index, double done)
    {
        lock (gate)
        {
            (stage, progress) = (index, done);
        }
    }
}
