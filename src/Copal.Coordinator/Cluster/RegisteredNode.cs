using Akka.Actor;
using Copal.Cluster;

namespace Copal.Coordinator.Cluster;

/// <summary>A node the coordinator knows: what it announced and where its actor is.</summary>
public sealed record RegisteredNode(RegisterNode Registration, IActorRef Actor)
{
    public string NodeId => Registration.NodeId;
}
