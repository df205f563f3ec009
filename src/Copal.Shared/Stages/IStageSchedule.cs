using static TorchSharp.torch;

namespace Copal.Stages;

/// <summary>
/// The order in which a shard runs its layers over a stage's calibration micro-batches. Both
/// schedules are made of the same <see cref="LayerStage"/> steps, so they give the same bits.
/// </summary>
public interface IStageSchedule : IDisposable
{
    /// <summary>Takes one calibration micro-batch (ownership included); returns the shard's output now, or null when it is held until the end.</summary>
    Tensor? Calibrate(long firstSample, Tensor hidden);

    /// <summary>No more input: returns the outputs held until now (the caller owns them).</summary>
    IReadOnlyList<MicroBatch> EndCalibration();

    /// <summary>Finishes every layer not finished yet.</summary>
    void FinishLayers();

    /// <summary>Makes the schedule that <paramref name="assignment"/> names.</summary>
    static IStageSchedule Create(StageAssignment assignment, ShardContext shard, StageIo io, Action<int>? layerDone) => assignment.Schedule switch
    {
        StageSchedule.Pipeline => new PipelineSchedule(shard, io, assignment.Samples, layerDone),
        _ => new WaveSchedule(shard, io, layerDone),
    };
}
