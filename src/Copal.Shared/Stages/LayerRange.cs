using Copal.Pruning;

namespace Copal.Stages;

/// <summary>A contiguous range of decoder layers [First, Last], the unit a node owns.</summary>
public sealed record LayerRange(int First, int Last)
{
    public int Count => Last - First + 1;

    public IReadOnlyList<int> Layers => Enumerable.Range(First, Count).ToList();

    public string WeightsFile => CheckpointShardWriter.FileNameFor(First, Last);

    public string ImportanceFile => ImportanceAccumulator.FileName(First, Last);

    public override string ToString() => $"layers {First}-{Last}";
}
