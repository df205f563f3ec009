using Copal.Stages;
namespace Copal.Pipeline;

/// <summary>
/// When a shard is the only one of its pipeline with work, micro-batches moving through the
/// shards in step: the first shard's first micro-batch (the pipeline fills), the last shard's
/// last micro-batch and its pruning (it drains), and each shard's pass of a wave (the others
/// wait for its outputs or are done). Nodes sharing one machine's cores take them all then:
/// with one thread each, a core would idle through these spans.
/// </summary>
/// <param name="IsFirst">The shard is fed by the coordinator (it holds layer 0).</param>
/// <param name="IsLast">The shard feeds no other (it holds the last layer).</param>
/// <param name="MicroBatches">Calibration micro-batches of a stage.</param>
public sealed record PipelineOccupancy(bool IsFirst, bool IsLast, long MicroBatches)
{
    public static PipelineOccupancy Of(int firstLayer, bool feedsAnother, int samples, int batchSize) =>
        new(firstLayer == 0, !feedsAnother, (samples + (long)batchSize - 1) / batchSize);

    /// <summary>Whether the shard works alone on calibration micro-batch <paramref name="sequence"/>: in a pipeline as it fills or drains (a wave only gathers it).</summary>
    public bool AloneOn(StageSchedule schedule, long sequence) =>
        schedule == StageSchedule.Pipeline && ((IsFirst && sequence == 0) || (IsLast && sequence == MicroBatches - 1));

    /// <summary>Whether the shard works alone once its calibration input has ended: a wave's pass runs then.</summary>
    public bool AloneEnding(StageSchedule schedule) => schedule == StageSchedule.Wave;

    /// <summary>Whether the shard prunes and writes alone: the others are done by then.</summary>
    public bool AloneFinishing => IsLast;
}
