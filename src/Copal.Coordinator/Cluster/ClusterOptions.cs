namespace Copal.Coordinator.Cluster;

/// <summary>How this coordinator process takes part in a cluster.</summary>
/// <param name="LocalNodes">Node processes to start on 127.0.0.1 (local mode), 0 in cluster mode.</param>
/// <param name="NodeThreads">Torch threads of each local node.</param>
/// <param name="NodeAloneThreads">Torch threads of a local node while no other has work (<see cref="Pipeline.PipelineOccupancy"/>).</param>
/// <param name="Seeds">Seed addresses to join (cluster mode); empty: this process is the seed.</param>
/// <param name="PublicHost">Address other members use to reach this process (default: Host).</param>
/// <param name="NodeCpus">The CPUs each local node is pinned to; null: they share every CPU.</param>
/// <param name="ReplaceTimeout">After a node is lost: how long to wait for a replacement before planning over the nodes left (default 30 s).</param>
public sealed record ClusterOptions(int LocalNodes, IReadOnlyList<string> Seeds, int MinNodes, string Host, int Port, string NodeMemory, int NodeThreads, int NodeAloneThreads, ClusterLimits Limits, string? PublicHost = null, TimeSpan? ReplaceTimeout = null, NodeCpus? NodeCpus = null);
