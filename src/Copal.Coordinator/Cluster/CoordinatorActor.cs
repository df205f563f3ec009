using Akka.Actor;
using Copal.Cluster;
using Serilog;

namespace Copal.Coordinator.Cluster;

/// <summary>
/// The coordinator singleton's membership side: it keeps the registry of GPU nodes (their
/// capacity and data endpoint), watches them, and answers requests for enough nodes to run.
/// </summary>
public sealed class CoordinatorActor : ReceiveActor, IWithTimers
{
    private readonly Dictionary<string, RegisteredNode> nodes = new();
    private readonly List<(int Id, WaitForNodes Request, IActorRef ReplyTo)> waiting = new();
    private int nextWait;

    public CoordinatorActor()
    {
        Receive<RegisterNode>(Register);
        Receive<Terminated>(t =>
        {
            foreach (var lost in nodes.Values.Where(n => n.Actor.Equals(t.ActorRef)).ToList())
            {
                Log.Warning("Node {Node} left", lost.NodeId);
                nodes.Remove(lost.NodeId);
            }
        });
        Receive<WaitForNodes>(request =>
        {
            var id = nextWait++;
            waiting.Add((id, request, Sender));
            Timers.StartSingleTimer(id, new WaitExpired(id), request.Timeout);
            Answer();
        });
        Receive<WaitExpired>(expired =>
        {
            foreach (var w in waiting.Where(w => w.Id == expired.Id).ToList())
            {
                waiting.Remove(w);
                if (nodes.Count >= Math.Max(1, w.Request.Minimum))
                {
                    Log.Warning("Only {Count} of {Wanted} nodes after {Timeout}: planning over those", nodes.Count, w.Request.Count, w.Request.Timeout);
                    w.ReplyTo.Tell(Available(nodes.Count));
                }
                else
                {
                    w.ReplyTo.Tell(new Status.Failure(new ClusterRunException($"only {nodes.Count} of {w.Request.Count} nodes joined within {w.Request.Timeout}")));
                }
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private void Register(RegisterNode registration)
    {
        if (!nodes.TryGetValue(registration.NodeId, out var known) || !known.Actor.Equals(Sender))
        {
            Log.Information("Node {Node} joined: data {Host}:{Port}, memory {Memory} bytes, device {Device}", registration.NodeId, registration.DataHost, registration.DataPort, registration.MemoryBytes, registration.Device);
            nodes[registration.NodeId] = new RegisteredNode(registration, Sender);
            Context.Watch(Sender);
        }

        Sender.Tell(new NodeRegistered(registration.NodeId));
        Answer();
    }

    private void Answer()
    {
        foreach (var w in waiting.Where(w => nodes.Count >= w.Request.Count).ToList())
        {
            waiting.Remove(w);
            Timers.Cancel(w.Id);

            w.ReplyTo.Tell(Available(w.Request.Count));
        }
    }

    // Ordered by name, so the same cluster gives the same plan.
    private NodesAvailable Available(int count) =>
        new(nodes.Values.OrderBy(n => n.NodeId, StringComparer.Ordinal).Take(count).ToList());

    private sealed record WaitExpired(int Id);
}
