using Copal.Cluster;
using Copal.Coordinator.Cluster;
using Copal.Coordinator.Monitoring;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>The /status answer of this coordinator: the run directory as journaled, plus the live stage and plan.</summary>
internal sealed class LiveRun(string directory, Func<ClusterSession?> session)
{
    public volatile bool Started;

    /// <summary>The run is over: a lingering coordinator is ready to serve its status, in the cluster or not.</summary>
    public volatile bool Finished;

    public StageTracker Stage { get; } = new();

    public string? Json()
    {
        if (!Started)
        {
            return null;
        }

        var live = session() is { } s ? s.Snapshot() : (Epoch: 0L, Nodes: (IReadOnlyList<NodeStatus>)[], Members: (IReadOnlyList<string>)[]);
        var (stage, progress) = Stage.Current;
        var status = RunStatus.Read(directory, verify: false) with
        {
            Live = new LiveStatus(stage, progress, live.Epoch, live.Nodes, live.Members),
        };
        return CopalJson.Serialize(status);
    }
}
