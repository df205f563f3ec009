namespace Copal.Coordinator.Cli.Bench;

/// <summary>One round's stage seconds: in one process, on the nodes, and on the nodes with TLS.</summary>
public sealed record ClusterRound(double InProcess, double Cluster, double TlsCluster);

/// <summary>The stage seconds of each round: the fastest of each side, and the median ratios of the rounds.</summary>
public sealed record ClusterStageTimes(IReadOnlyList<ClusterRound> Rounds)
{
    public double InProcessSeconds => Rounds.Min(r => r.InProcess);

    public double ClusterSeconds => Rounds.Min(r => r.Cluster);

    public double TlsClusterSeconds => Rounds.Min(r => r.TlsCluster);

    public double Ratio => RoundRatio.Median(Rounds.Select(r => (r.Cluster, r.InProcess)));

    /// <summary>What TLS on remoting and the data path costs the cluster stage.</summary>
    public double TlsRatio => RoundRatio.Median(Rounds.Select(r => (r.TlsCluster, r.Cluster)));
}
