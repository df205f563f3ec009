using Akka.Actor;
using Akka.Cluster;
using Serilog;

namespace Copal.Coordinator.Cluster;

/// <summary>Counts UnreachableMember events.</summary>
internal sealed class UnreachableCounter : ReceiveActor
{
    public UnreachableCounter(Action seen) =>
        Receive<ClusterEvent.UnreachableMember>(e =>
        {
            Log.Warning("Member {Member} is unreachable", e.Member.Address);
            seen();
        });
}
