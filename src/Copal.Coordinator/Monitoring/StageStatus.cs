namespace Copal.Coordinator.Monitoring;

/// <summary>One stage of a run as the journal and its manifest tell it.</summary>
public sealed record StageStatus(int Stage, string Dataset, string State, IReadOnlyList<string> Shards);
