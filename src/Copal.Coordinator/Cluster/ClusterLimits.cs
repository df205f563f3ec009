namespace Copal.Coordinator.Cluster;

/// <summary>Timing and flow limits of a cluster run.</summary>
/// <param name="NodeTimeout">How long any wait for a node may take before the run fails with a clear error.</param>
/// <param name="InFlight">Micro-batches sent but not yet through the last node (the back-pressure window).</param>
public sealed record ClusterLimits(TimeSpan NodeTimeout, int InFlight);
