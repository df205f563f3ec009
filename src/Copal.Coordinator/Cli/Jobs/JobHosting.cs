using Copal.Coordinator.Cluster;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>How the coordinator process is hosted around a run.</summary>
/// <param name="Cluster">Null: the run is in this process.</param>
/// <param name="MetricsPort">/metrics, /healthz, /readyz and /status (0: off).</param>
/// <param name="Linger">After the run, stay up (status, metrics, cluster membership) until stopped: a StatefulSet pod does not restart a finished run.</param>
public sealed record JobHosting(ClusterOptions? Cluster, int MetricsPort = 0, bool Linger = false);
