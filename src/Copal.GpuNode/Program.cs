using System.CommandLine;
using Akka.Actor;
using Akka.Cluster;
using Copal;
using Copal.Cluster;
using Copal.GpuNode;
using Copal.Planning;
using Copal.Transport;
using Serilog;
using Serilog.Formatting.Compact;

var root = new RootCommand("copal-node: a GPU node of a Copal cluster; serves a contiguous range of decoder layers")
{
    NodeOptions.Seeds, NodeOptions.Host, NodeOptions.PublicHost, NodeOptions.Port, NodeOptions.DataPort,
    NodeOptions.Memory, NodeOptions.Device, NodeOptions.Threads, NodeOptions.NodeId, NodeOptions.LogLevel,
};
root.SetAction((result, token) => NodeHost.RunAsync(result, token));

var levelText = root.Parse(args).GetValue(NodeOptions.LogLevel);
var level = Enum.TryParse<Serilog.Events.LogEventLevel>(levelText, ignoreCase: true, out var parsedLevel) ? parsedLevel : Serilog.Events.LogEventLevel.Information;
Log.Logger = new LoggerConfiguration()
    .MinimumLevel.Is(level)
    .Enrich.FromLogContext()
    .WriteTo.Console(new RenderedCompactJsonFormatter(), standardErrorFromLevel: Serilog.Events.LogEventLevel.Verbose)
    .CreateLogger();
try
{
    var parsed = root.Parse(args);
    if (parsed.Errors.Count > 0)
    {
        Console.Error.WriteLine("error: " + parsed.Errors[0].Message);
        return 2;
    }

    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (CopalInputException e)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 2;
}
finally
{
    await Log.CloseAndFlushAsync();
}

/// <summary>Starts the node: data listener, cluster membership, node actor; runs until stopped.</summary>
internal static class NodeHost
{
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
        TorchSharp.torch.set_num_threads(result.GetValue(NodeOptions.Threads) ?? Environment.ProcessorCount);
        var host = result.GetValue(NodeOptions.Host)!;
        var publicHost = result.GetValue(NodeOptions.PublicHost) ?? host;

        await using var listener = new ActivationListener(host, result.GetValue(NodeOptions.DataPort), window: 4);
        var config = ClusterConfig.Build(new ClusterEndpoint(host, result.GetValue(NodeOptions.Port), result.GetValue(NodeOptions.PublicHost), seeds, Roles.GpuNode));
        using var system = ActorSystem.Create(Roles.SystemName, config);
        var self = Cluster.Get(system).SelfAddress;
        var nodeId = result.GetValue(NodeOptions.NodeId) ?? $"{self.Host}:{self.Port}";
        var registration = new RegisterNode(nodeId, publicHost, listener.Port, memory, device);
        system.ActorOf(NodeActor.Props(registration, listener), Roles.NodeActorName);
        Log.Information("Node {Node} up: cluster {Address}, data port {DataPort}, memory {Memory}, device {Device}", nodeId, self, listener.Port, ByteSize.Format(memory), device);

        using var registration2 = token.Register(() => CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance));
        await system.WhenTerminated;
        return 0;
    }
}
