using System.Threading.Channels;
using Akka.Actor;
using Akka.Cluster;

namespace Copal.Coordinator.Cluster;

/// <summary>
/// Receives the nodes' reports for a run and hands them to the run's thread through a channel;
/// it also watches the nodes so a lost one surfaces as <see cref="NodeLost"/>, and one the failure
/// detector stops hearing as <see cref="NodeUnreachable"/>.
/// </summary>
public sealed class NodeInbox : ReceiveActor
{
    public NodeInbox(ChannelWriter<object> writer, IReadOnlyList<RegisteredNode> nodes)
    {
        var byActor = nodes.ToDictionary(n => n.Actor, n => n.NodeId);
        foreach (var node in nodes)
        {
            Context.Watch(node.Actor);
        }

        var byAddress = nodes.ToDictionary(n => n.Actor.Path.Address, n => n.NodeId);
        Receive<Terminated>(t => writer.TryWrite(new NodeLost(byActor.GetValueOrDefault(t.ActorRef, t.ActorRef.Path.ToString()))));
        Receive<ClusterEvent.UnreachableMember>(e =>
        {
            if (byAddress.TryGetValue(e.Member.Address, out var node))
            {
                writer.TryWrite(new NodeUnreachable(node));
            }
        });
        Receive<ClusterEvent.IClusterDomainEvent>(_ => { });
        ReceiveAny(message => writer.TryWrite(message));
    }

    protected override void PreStart() =>
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.UnreachableMember));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    public static Props Props(ChannelWriter<object> writer, IReadOnlyList<RegisteredNode> nodes) =>
        Akka.Actor.Props.Create(() => new NodeInbox(writer, nodes));
}
