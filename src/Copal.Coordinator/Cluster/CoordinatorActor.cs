using Akka.Actor;
using Akka.Cluster;
using Copal.Cluster;
using Serilog;

namespace Copal.Coordinator.Cluster;

/// <summary>
/// The coordinator singleton's membership side: it keeps the registry of GPU nodes (their
/// capacity and data endpoint), watches them, and answers requests for enough nodes to run.
/// A plan takes only nodes the failure detector hears now, and none that a run has just
/// suspected (<see cref="SuspectNode"/>) until the detector has had time to call it unreachable:
/// a node that broke a run a moment ago is not planned in again only to be waited for.
/// </summary>
public sealed class CoordinatorActor : ReceiveActor, IWithTimers
{
    private readonly Dictionary<string, RegisteredNode> nodes = new();
    private readonly List<(int Id, WaitForNodes Request, IActorRef ReplyTo)> waiting = new();
    private readonly HashSet<Address> unreachable = new();
    private readonly Dictionary<string, DateTime> suspectedUntil = new();
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
        Receive<ClusterEvent.UnreachableMember>(e => unreachable.Add(e.Member.Address));
        Receive<ClusterEvent.ReachableMember>(e =>
        {
            unreachable.Remove(e.Member.Address);
            Answer();
        });
        Receive<ClusterEvent.MemberRemoved>(e => unreachable.Remove(e.Member.Address));
        Receive<SuspectNode>(s =>
        {
            Log.Warning("Leaving node {Node} out of the next plans for {Seconds} s: a run just failed on it", s.NodeId, SuspicionTime.TotalSeconds);
            suspectedUntil[s.NodeId] = DateTime.UtcNow + SuspicionTime;
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
                var usable = Usable();
                if (usable.Count >= Math.Max(1, w.Request.Minimum))
                {
                    Log.Warning("Only {Count} of {Wanted} nodes after {Timeout}: planning over those", usable.Count, w.Request.Count, w.Request.Timeout);
                    w.ReplyTo.Tell(new NodesAvailable(usable));
                }
                else
                {
                    w.ReplyTo.Tell(new Status.Failure(new ClusterRunException($"only {usable.Count} of {w.Request.Count} nodes joined within {w.Request.Timeout}")));
                }
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Long enough for the failure detector to call a dead node unreachable.</summary>
    private static TimeSpan SuspicionTime => ClusterConfig.HeartbeatPause + TimeSpan.FromSeconds(5);

    protected override void PreStart() =>
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

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
        var usable = Usable();
        foreach (var w in waiting.Where(w => usable.Count >= w.Request.Count).ToList())
        {
            waiting.Remove(w);
            Timers.Cancel(w.Id);

            w.ReplyTo.Tell(new NodesAvailable(usable.Take(w.Request.Count).ToList()));
        }
    }

    // Ordered by name, so the same cluster gives the same plan.
    private List<RegisteredNode> Usable()
    {
        var now = DateTime.UtcNow;
        return nodes.Values
            .Where(n => !unreachable.Contains(n.Actor.Path.Address) && !(suspectedUntil.TryGetValue(n.NodeId, out var until) && until > now))
            .OrderBy(n => n.NodeId, StringComparer.Ordinal)
            .ToList();
    }

    private sealed record WaitExpired(int Id);
}
