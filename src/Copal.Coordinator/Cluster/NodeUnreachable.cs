namespace Copal.Coordinator.Cluster;

/// <summary>The failure detector no longer hears a node of the run (it may come back, or be downed).</summary>
public sealed record NodeUnreachable(string NodeId);
