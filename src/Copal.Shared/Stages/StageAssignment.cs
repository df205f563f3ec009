namespace Copal.Stages;

/// <summary>How a stage's calibration flows through a shard.</summary>
public enum StageSchedule
{
    /// <summary>Each micro-batch runs through all the shard's layers as it arrives (dense propagation).</summary>
    Pipeline,

    /// <summary>All micro-batches are gathered, then the shard's layers run one after another over all of them.</summary>
    Wave,
}

/// <summary>What every shard does in one stage. Paths are on storage all shards share.</summary>
/// <param name="Epoch">Grows each time a stage is (re)started, so late messages of an abandoned attempt are recognised.</param>
/// <param name="BuildDirectory">Where shards write their pruned layers and accumulator state.</param>
/// <param name="ScoredCheckpoint">The checkpoint whose weights are pruned (previous stage, sequential), or null for the dense model.</param>
/// <param name="PreviousStage">The stage directory whose accumulator state is carried (copal strategy), or null.</param>
/// <param name="Store">What the shards write of their pruned layers: the weights, or keep-masks against the model.</param>
/// <param name="Samples">The calibration samples the stage will feed (0: not known), so a pipeline can finish each layer as the last one passes it.</param>
public sealed record StageAssignment(
    int Stage,
    long Epoch,
    string Dataset,
    string BuildDirectory,
    string? ScoredCheckpoint,
    string? PreviousStage,
    StageSchedule Schedule,
    StageStore Store = StageStore.Full,
    long Samples = 0);
