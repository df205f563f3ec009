using System.Threading.Channels;
using Akka.Actor;

namespace Copal.Coordinator.Cluster;

/// <summary>
/// Receives the nodes' reports for a run and hands them to the run's thread through a channel;
/// it also watches the nodes so a lost one surfaces as <see cref="NodeLost"/>.
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

        Receive<Terminated>(t => writer.TryWrite(new NodeLost(byActor.GetValueOrDefault(t.ActorRef, t.ActorRef.Path.ToString()))));
        ReceiveAny(message => writer.TryWrite(message));
    }

    public static Props Props(ChannelWriter<object> writer, IReadOnlyList<RegisteredNode> nodes) =>
        Akka.Actor.Props.Create(() => new NodeInbox(writer, nodes));
}
