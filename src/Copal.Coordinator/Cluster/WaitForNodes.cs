namespace Copal.Coordinator.Cluster;

/// <summary>
/// Asks the coordinator for <paramref name="Count"/> nodes, waiting up to <paramref name="Timeout"/>;
/// then, if at least <paramref name="Minimum"/> are there, it answers with those (a re-plan over
/// the nodes that are left), else it fails.
/// </summary>
public sealed record WaitForNodes(int Count, TimeSpan Timeout, int Minimum = int.MaxValue);
