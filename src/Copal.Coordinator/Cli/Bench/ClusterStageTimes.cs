namespace Copal.Coordinator.Cli.Bench;

/// <summary>The stage seconds of each round, one process and the cluster: the fastest of each side, and the ratio of the rounds.</summary>
public sealed record ClusterStageTimes(IReadOnlyList<(double InProcess, double Cluster)> Rounds)
{
    public double InProcessSeconds => Rounds.Min(r => r.InProcess);

    public double ClusterSeconds => Rounds.Min(r => r.Cluster);

    public double Ratio => RoundRatio.Median(Rounds.Select(r => (r.Cluster, r.InProcess)));
}
