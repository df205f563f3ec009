namespace Copal.Coordinator.Cluster;

/// <summary>The answer to <see cref="WaitForNodes"/>: the nodes to plan over, ordered by name.</summary>
public sealed record NodesAvailable(IReadOnlyList<RegisteredNode> Nodes);
