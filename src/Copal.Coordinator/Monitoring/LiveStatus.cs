namespace Copal.Coordinator.Monitoring;

/// <summary>What only a running coordinator knows: the stage in progress, the plan over the nodes, the members.</summary>
public sealed record LiveStatus(int Stage, double StageProgress, long Epoch, IReadOnlyList<NodeStatus> Nodes, IReadOnlyList<string> Members);
