using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.Singleton;
using Copal.Cluster;
using Copal.Coordinator.Monitoring;
using Copal.Model;
using Copal.Planning;
using Copal.Pruning;
using Copal.Transport;
using Serilog;

namespace Copal.Coordinator.Cluster;

/// <summary>
/// This process as the cluster's coordinator member: its ActorSystem, the coordinator singleton
/// (and a proxy to it), and in local mode the node processes it started.
/// </summary>
public sealed class ClusterSession : IDisposable
{
    private readonly ActorSystem system;
    private readonly IActorRef coordinator;
    private readonly LocalNodes? localNodes;
    private readonly ClusterOptions options;
    private readonly Action stoppedOnItsOwn;
    private readonly DataPathTls? dataTls;
    private long epochs;
    private int unreachableEvents;
    private volatile IReadOnlyList<NodeStatus> assigned = [];
    private volatile bool up;
    private volatile bool closing;

    /// <param name="stoppedOnItsOwn">Called once this member has stopped without being closed (see <see cref="Stopped"/>): the run cannot go on.</param>
    public ClusterSession(ClusterOptions options, Action stoppedOnItsOwn)
    {
        this.options = options;
        this.stoppedOnItsOwn = stoppedOnItsOwn;
        var tls = ClusterTls.FromEnvironment();
        var config = ClusterConfig.Build(new ClusterEndpoint(options.Host, options.Port, options.PublicHost, options.Seeds, Roles.Coordinator, tls));
        dataTls = DataPathTls.For(tls);
        system = ActorSystem.Create(Roles.SystemName, config);
        var cluster = Akka.Cluster.Cluster.Get(system);
        cluster.RegisterOnMemberUp(() => up = true);
        cluster.RegisterOnMemberRemoved(() => up = false);
        system.WhenTerminated.ContinueWith(_ => Stopped(), TaskScheduler.Default);
        if (options.Seeds.Count == 0)
        {
            cluster.Join(cluster.SelfAddress);
        }

        // Counted for the report: bulk activations must never make a member look dead.
        var watcher = system.ActorOf(Props.Create(() => new UnreachableCounter(() => Interlocked.Increment(ref unreachableEvents))));
        cluster.Subscribe(watcher, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.UnreachableMember));

        system.ActorOf(
            ClusterSingletonManager.Props(Props.Create<CoordinatorActor>(), PoisonPill.Instance, ClusterSingletonManagerSettings.Create(system).WithRole(Roles.Coordinator)),
            Roles.CoordinatorSingletonName);
        coordinator = system.ActorOf(
            ClusterSingletonProxy.Props($"/user/{Roles.CoordinatorSingletonName}", ClusterSingletonProxySettings.Create(system).WithRole(Roles.Coordinator)),
            "coordinator-proxy");
        Log.Information("Coordinator member up at {Address}", cluster.SelfAddress);
        if (options.LocalNodes > 0)
        {
            localNodes = new LocalNodes(options.LocalNodes, cluster.SelfAddress.ToString(), options.NodeThreads, options.NodeAloneThreads, options.NodeMemory, options.NodeCpus);
        }
    }

    public ActorSystem System => system;

    /// <summary>This process is an Up member of the cluster (its readiness).</summary>
    public bool IsUp => up;

    public LocalNodes? Nodes => localNodes;

    /// <summary>Times a member was seen as unreachable since this session started.</summary>
    public int UnreachableEvents => Volatile.Read(ref unreachableEvents);

    public Address Address => Akka.Cluster.Cluster.Get(system).SelfAddress;

    /// <summary>The current epoch (one per pipeline built), the nodes of its plan and the cluster's members.</summary>
    public (long Epoch, IReadOnlyList<NodeStatus> Nodes, IReadOnlyList<string> Members) Snapshot() =>
        (Interlocked.Read(ref epochs), assigned, Akka.Cluster.Cluster.Get(system).State.Members
            .Select(m => $"{m.Address} ({string.Join(",", m.Roles)}, {m.Status})").ToList());

    /// <summary>Waits for the nodes, plans the layers over them and assigns the shards of run <paramref name="runId"/>.</summary>
    public ClusterPipeline CreatePipeline(LlamaModel model, PruningSettings settings, ComputeOptions compute, string runId)
    {
        var count = Math.Max(options.MinNodes, options.LocalNodes);
        var first = epochs == 0;
        var wait = first ? options.Limits.NodeTimeout : options.ReplaceTimeout ?? TimeSpan.FromSeconds(30);
        Log.Information("Waiting for {Count} nodes", count);
        var request = first ? new WaitForNodes(count, wait) : new WaitForNodes(count, wait, Minimum: 1);
        var nodes = Blocking.Wait(() => coordinator.Ask<NodesAvailable>(request, wait + TimeSpan.FromSeconds(5))).Nodes;
        var plan = LayerPlanner.Plan(PlanRequestFactory.ForRun(model, settings, compute, options.Limits.InFlight), nodes.Select(n => new NodeCapacity(n.NodeId, n.Registration.MemoryBytes)).ToList());
        assigned = plan.Shards.Select(shard =>
        {
            var registration = nodes.Single(n => n.NodeId == shard.NodeId).Registration;
            return new NodeStatus(shard.NodeId, $"{registration.DataHost}:{registration.DataPort}", shard.FirstLayer, shard.LastLayer, registration.MemoryBytes, registration.Device);
        }).ToList();
        return new ClusterPipeline(system, model, settings, compute, plan, nodes, options.Limits, new PipelineRun(runId, Interlocked.Increment(ref epochs)), dataTls, coordinator);
    }

    /// <summary>
    /// The member stopped on its own: no seed answered within COPAL_JOIN_TIMEOUT, or the
    /// split-brain resolver downed it. The run's waits would only end at --node-timeout.
    /// </summary>
    private void Stopped()
    {
        // Closed by us, or by Akka's own SIGTERM hook, whose stop StopSignals reports with the signal's exit code.
        if (closing || CoordinatedShutdown.Get(system).ShutdownReason is CoordinatedShutdown.ClrExitReason)
        {
            return;
        }

        Log.Error("This coordinator's cluster member has stopped (no seed answered within {Variable:l}, or the cluster downed it); the run stops here and `copal resume` continues it", EnvironmentVariables.JoinTimeout);
        stoppedOnItsOwn();
    }

    public void Dispose()
    {
        closing = true;
        // Leave while the nodes still answer, so the shutdown does not wait on dead members.
        CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance).Wait(TimeSpan.FromSeconds(10));
        system.Dispose();
        localNodes?.Dispose();
        dataTls?.Dispose();
    }
}
