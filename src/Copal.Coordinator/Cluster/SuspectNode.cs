namespace Copal.Coordinator.Cluster;

/// <summary>
/// A run saw this node fail it (its data path broke, or it stayed silent): leave it out of the
/// next plans until the failure detector has had time to judge it (see <see cref="CoordinatorActor"/>).
/// </summary>
public sealed record SuspectNode(string NodeId);
