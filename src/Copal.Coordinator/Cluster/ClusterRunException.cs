using Copal.Pipeline;

namespace Copal.Coordinator.Cluster;

/// <summary>A cluster run cannot go on (a node failed, was lost, or did not answer in time).</summary>
public sealed class ClusterRunException(string message) : PipelineFailedException(message);
