namespace Copal.Coordinator.Cluster;

/// <summary>A node's actor stopped (process gone or downed by the split-brain resolver).</summary>
public sealed record NodeLost(string NodeId);
