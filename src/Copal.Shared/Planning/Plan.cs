using Copal.Pruning;

namespace Copal.Planning;

/// <summary>One node's share of the model: its layers FirstLayer..LastLayer (both inclusive) and what they cost.</summary>
public sealed record ShardPlan(
    string NodeId,
    int FirstLayer,
    int LastLayer,
    long WeightBytes,
    long MethodStateBytes,
    long BufferBytes,
    long RuntimeBytes,
    long HeadBytes,
    long Flops,
    long CapacityBytes)
{
    /// <summary>Layers owned: LastLayer - FirstLayer + 1.</summary>
    public int LayerCount => LastLayer - FirstLayer + 1;

    /// <summary>Weights + method state + buffers + runtime + head (the head only on the last node).</summary>
    public long TotalBytes => WeightBytes + MethodStateBytes + BufferBytes + RuntimeBytes + HeadBytes;
}

/// <summary>A feasible assignment of contiguous layer ranges to the nodes, in node order, and its per-stage traffic and work.</summary>
public sealed record Plan(PlanRequest Request, IReadOnlyList<ShardPlan> Shards, long BytesPerBoundary, long FlopsPerStage)
{
    /// <summary>Node boundaries the calibration hidden states cross: coordinator to the first node, then between nodes.</summary>
    public int Boundaries => Shards.Count;

    /// <summary>Calibration activations streamed per stage over all boundaries (evaluation traffic not included).</summary>
    public long BytesStreamedPerStage => BytesPerBoundary * Boundaries;

    /// <summary>How <see cref="EstimatedSeconds"/> is computed, and what it leaves out.</summary>
    public string EstimateNote => FlopsPerStage == 0
        ? "magnitude runs no calibration: the stage does no FLOPs on the nodes"
        : Request.Propagation == Propagation.Pruned
            ? "pruned propagation calibrates layer by layer on all samples, so the nodes work one after another: total FLOPs / rate; network time not included"
            : $"pipelined over {Request.MicroBatches} micro-batches: the slowest node's FLOPs / rate plus the pipeline fill and drain; network time not included";

    /// <summary>Estimated compute time of one stage with every node sustaining <paramref name="tflopsPerNode"/> TFLOP/s.</summary>
    public double EstimatedSeconds(double tflopsPerNode)
    {
        if (!(tflopsPerNode > 0))
        {
            throw new CopalInputException($"TFLOP/s per node must be positive, got {tflopsPerNode}");
        }

        var rate = tflopsPerNode * 1e12;
        if (Request.Propagation == Propagation.Pruned)
        {
            return FlopsPerStage / rate;
        }

        // Pipeline of M micro-batches: every node's per-micro-batch time once (fill and drain),
        // then M - 1 more micro-batches at the pace of the slowest node.
        double m = Request.MicroBatches;
        var slowest = Shards.Max(s => (double)s.Flops);
        return ((slowest * (m - 1)) + FlopsPerStage) / m / rate;
    }
}
