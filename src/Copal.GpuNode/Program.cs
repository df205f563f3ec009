using System.CommandLine;
using Akka.Actor;
using Akka.Cluster;
using Copal;
using Copal.Cluster;
using Copal.GpuNode;
using Copal.Observability;
using Copal.Planning;
using Copal.Transport;
using Serilog;

var root = new RootCommand("copal-node: a GPU node of a Copal cluster; serves a contiguous range of decoder layers");
foreach (var option in NodeOptions.All)
{
    root.Options.Add(option);
}

root.SetAction((result, token) => NodeHost.RunAsync(result, token));

try
{
    var parsed = root.Parse(args);
    var level = LogSetup.ParseLevel(parsed.GetValue(NodeOptions.LogLevel)!, $"--log-level (or {NodeOptions.LogLevelVariable})");

    // Containers read stdout: JSON lines there unless on a terminal (see LogSetup).
    Log.Logger = LogSetup.Console(level, toStdout: true, jsonWhenRedirected: true, LogSetup.TaggedTextTemplate).CreateLogger();
    if (parsed.Errors.Count > 0)
    {
        return InputError.Report(parsed.Errors.Select(e => e.Message));
    }

    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (CopalInputException e)
{
    return InputError.Report([e.Message]);
}
finally
{
    await Log.CloseAndFlushAsync();
}

/// <summary>Starts the node: data listener, cluster membership, node actor; runs until stopped.</summary>
internal static class NodeHost
{
    private static volatile bool ready;

    public static async Task<int> RunAsync(ParseResult result, CancellationToken token)
    {
        var seeds = result.GetValue(NodeOptions.Seeds)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (seeds.Length == 0)
        {
            throw new CopalInputException($"--seeds (or {NodeOptions.SeedsVariable}) must name at least one seed node");
        }

        var device = result.GetValue(NodeOptions.Device)!;
        if (device != "cpu" && !(device.StartsWith("cuda", StringComparison.Ordinal) && TorchSharp.torch.cuda.is_available()))
        {
            throw new CopalInputException($"--device {device}: only cpu is available in this build (CUDA needs -p:CopalTorchBackend=cuda and a GPU)");
        }

        var memory = ByteSize.Parse(result.GetValue(NodeOptions.Memory)!);
        var threads = result.GetValue(NodeOptions.Threads) ?? Environment.ProcessorCount;
        var aloneThreads = result.GetValue(NodeOptions.AloneThreads) ?? threads;
        if (threads < 1 || aloneThreads < threads)
        {
            throw new CopalInputException($"--threads must be at least 1 and --alone-threads at least --threads, got {threads} and {aloneThreads}");
        }

        TorchSharp.torch.set_num_threads(threads);
        var host = result.GetValue(NodeOptions.Host)!;
        var publicHost = result.GetValue(NodeOptions.PublicHost) ?? host;

        var tls = result.GetValue(NodeOptions.TlsCert) is { Length: > 0 } cert ? new ClusterTls(cert, result.GetValue(NodeOptions.TlsPassword)) : null;
        var config = ClusterConfig.Build(new ClusterEndpoint(host, result.GetValue(NodeOptions.Port), result.GetValue(NodeOptions.PublicHost), seeds, Roles.GpuNode, tls));
        LogFields.Node = result.GetValue(NodeOptions.NodeId);

        // Up first: the liveness probe must answer while the node loads and joins.
        using var health = HealthServer.Start(result.GetValue(NodeOptions.MetricsPort), () => ready);
        using var dataTls = DataPathTls.For(tls);
        await using var listener = new ActivationListener(host, result.GetValue(NodeOptions.DataPort), window: 4, dataTls);
        using var system = ActorSystem.Create(Roles.SystemName, config);
        var cluster = Cluster.Get(system);
        var self = cluster.SelfAddress;
        var nodeId = result.GetValue(NodeOptions.NodeId) ?? $"{self.Host}:{self.Port}";
        LogFields.Node = nodeId;
        cluster.RegisterOnMemberUp(() => ready = true);
        cluster.RegisterOnMemberRemoved(() => ready = false);
        Prometheus.Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
            CopalMetrics.ClusterMembers.Set(cluster.State.Members.Count(m => m.Status == MemberStatus.Up)));
        var registration = new RegisterNode(nodeId, publicHost, listener.Port, memory, device);
        system.ActorOf(NodeActor.Props(registration, listener, new ThreadShare(threads, aloneThreads), dataTls), Roles.NodeActorName);
        Log.Information("Node {Node} up: cluster {Address}, data port {DataPort}, memory {Memory}, device {Device}", nodeId, self, listener.Port, ByteSize.Format(memory), device);

        void Stop() => CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        using var stopping = token.Register(Stop);
        ParentWatch.Start(Stop, token);
        await system.WhenTerminated;
        return 0;
    }
}
