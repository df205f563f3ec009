namespace Copal.Coordinator.Monitoring;

/// <summary>One stage of a run as the journal and its manifest tell it.</summary>
/// <param name="BytesWritten">The bytes its commit wrote, or null before it (or in journals of older versions).</param>
public sealed record StageStatus(int Stage, string Dataset, string State, IReadOnlyList<string> Shards, long? BytesWritten = null);
