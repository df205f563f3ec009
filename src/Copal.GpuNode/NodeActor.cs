using Akka.Actor;
using Akka.Cluster.Tools.Singleton;
using Akka.Event;
using Copal.Cluster;
using Copal.Observability;
using Copal.Transport;
using Serilog;

namespace Copal.GpuNode;

/// <summary>
/// A GPU node's actor: registers with the coordinator singleton (again after any loss of
/// contact), accepts shard assignments and starts a <see cref="ShardWorker"/> for each. It only
/// moves messages and owns state; the tensor work is the worker's.
/// </summary>
public sealed class NodeActor : ReceiveActor, IWithTimers
{
    private readonly RegisterNode registration;
    private readonly ActivationListener listener;
    private readonly ThreadShare threads;
    private readonly DataPathTls? dataTls;
    private readonly IActorRef coordinator;
    private ShardWorker? worker;

    public NodeActor(RegisterNode registration, ActivationListener listener, ThreadShare threads, DataPathTls? dataTls)
    {
        this.dataTls = dataTls;
        this.registration = registration;
        this.listener = listener;
        this.threads = threads;
        coordinator = Context.ActorOf(
            ClusterSingletonProxy.Props($"/user/{Roles.CoordinatorSingletonName}", ClusterSingletonProxySettings.Create(Context.System).WithRole(Roles.Coordinator)),
            "coordinator-proxy");

        Receive<RegisterTick>(_ => coordinator.Tell(registration));
        Receive<NodeRegistered>(_ => Log.Debug("Registered with the coordinator as {Node}", registration.NodeId));
        ReceiveAsync<AssignShard>(AssignAsync);
        ReceiveAsync<ReleaseShard>(async _ => await ReleaseAsync());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(RegisterNode registration, ActivationListener listener, ThreadShare threads, DataPathTls? dataTls) =>
        Akka.Actor.Props.Create(() => new NodeActor(registration, listener, threads, dataTls));

    protected override void PreStart()
    {
        // Registration is idempotent; repeating it lets a restarted coordinator find us again.
        Timers.StartPeriodicTimer("register", RegisterTick.Instance, TimeSpan.Zero, TimeSpan.FromSeconds(2));
    }

    protected override void PostStop() => ReleaseAsync().GetAwaiter().GetResult();

    private async Task AssignAsync(AssignShard assign)
    {
        await ReleaseAsync();
        try
        {
            LogFields.RunId = assign.RunId;
            Log.Information("Assigned layers {First}-{Last} (epoch {Epoch}), next {Next}", assign.FirstLayer, assign.LastLayer, assign.Epoch, assign.NextHost is null ? "none (last)" : $"{assign.NextHost}:{assign.NextPort}");
            listener.Admit(new LinkTicket(assign.Epoch, assign.UpstreamKey));
            worker = new ShardWorker(registration.NodeId, assign, threads);
            await worker.StartAsync(listener, dataTls);
            Sender.Tell(new ShardReady(registration.NodeId, assign.Epoch));
        }
        catch (Exception e)
        {
            Context.GetLogger().Error(e, "Assignment failed");
            Sender.Tell(new NodeFailed(registration.NodeId, assign.Epoch, $"{registration.NodeId}: {e.Message}"));
            await ReleaseAsync();
        }
    }

    private async Task ReleaseAsync()
    {
        if (worker != null)
        {
            await worker.DisposeAsync();
            worker = null;
        }
    }

    private sealed class RegisterTick
    {
        public static readonly RegisterTick Instance = new();
    }
}
