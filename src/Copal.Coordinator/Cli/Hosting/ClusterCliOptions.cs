using System.CommandLine;
using Copal.Cluster;
using Copal.Coordinator.Cluster;

namespace Copal.Coordinator.Cli.Hosting;

/// <summary>Options that move a run onto cluster nodes: local node processes or an existing cluster.</summary>
public sealed class ClusterCliOptions
{
    public Option<int> Nodes { get; } = new("--nodes") { Description = "start N copal-node processes on 127.0.0.1 and run on them (0: in this process)", DefaultValueFactory = _ => 0 };

    public Option<string?> Seeds { get; } = new("--seeds") { Description = $"join an existing cluster through these seed addresses (akka.tcp://copal@host:port,...) [env {EnvironmentVariables.Seeds}]", DefaultValueFactory = _ => EnvironmentVariables.Get(EnvironmentVariables.Seeds) };

    public Option<int> MinNodes { get; } = new("--min-nodes") { Description = $"with --seeds: nodes to wait for [env {EnvironmentVariables.MinNodes}]", DefaultValueFactory = _ => EnvInt(EnvironmentVariables.MinNodes, 1) };

    public Option<string> Host { get; } = new("--host") { Description = $"address this coordinator binds for the cluster [env {EnvironmentVariables.Host}]", DefaultValueFactory = _ => EnvironmentVariables.Get(EnvironmentVariables.Host) ?? "127.0.0.1" };

    public Option<string?> PublicHost { get; } = new("--public-host") { Description = $"address other members use to reach this coordinator (default: --host) [env {EnvironmentVariables.PublicHostname}]", DefaultValueFactory = _ => EnvironmentVariables.Get(EnvironmentVariables.PublicHostname) };

    public Option<int> Port { get; } = new("--port") { Description = $"remoting port of this coordinator (0: any free port) [env {EnvironmentVariables.Port}]", DefaultValueFactory = _ => EnvInt(EnvironmentVariables.Port, 0) };

    public Option<int> MetricsPort { get; } = new("--metrics-port") { Description = $"HTTP port for /metrics, /healthz and /readyz (0: off) [env {EnvironmentVariables.MetricsPort}]", DefaultValueFactory = _ => EnvInt(EnvironmentVariables.MetricsPort, 0) };

    public Option<int?> NodeThreads { get; } = new("--node-threads") { Description = "torch threads of each local node (default: this machine's cores shared among the nodes, at least 1)" };

    public Option<string?> NodeCpus { get; } = new("--node-cpus") { Description = "pin local node i to the i-th CPU or range of this comma-separated list (e.g. 0,1), so each has cores of its own (taskset); its threads default to its CPUs" };

    public Option<string> NodeMemory { get; } = new("--node-memory") { Description = "memory each local node announces", DefaultValueFactory = _ => "4GiB" };

    public Option<double> NodeTimeout { get; } = new("--node-timeout") { Description = "seconds any wait for a node may last before the run fails", DefaultValueFactory = _ => 600 };

    public Option<int> InFlight { get; } = new("--in-flight") { Description = "micro-batches in the pipeline at once", DefaultValueFactory = _ => 4 };

    public Option<double> ReplaceTimeout { get; } = new("--replace-timeout") { Description = "seconds to wait for a replacement of a lost node before re-planning over the nodes left", DefaultValueFactory = _ => 30 };

    public IEnumerable<Option> All => [Nodes, Seeds, MinNodes, Host, PublicHost, Port, MetricsPort, NodeThreads, NodeCpus, NodeMemory, NodeTimeout, InFlight, ReplaceTimeout];

    /// <summary>Null for an in-process run.</summary>
    public ClusterOptions? Parse(ParseResult result)
    {
        var nodes = result.GetValue(Nodes);
        var seeds = CommonOptions.ParseList(result.GetValue(Seeds), [], "--seeds");
        if (nodes < 0)
        {
            throw new CopalInputException($"--nodes must be 0 or more, got {nodes}");
        }

        if (nodes > 0 && seeds.Count > 0)
        {
            throw new CopalInputException("give either --nodes (local node processes) or --seeds (an existing cluster), not both");
        }

        if (nodes == 0 && seeds.Count == 0)
        {
            return null;
        }

        var timeout = result.GetValue(NodeTimeout);
        var inFlight = result.GetValue(InFlight);
        if (!(timeout > 0) || inFlight < 1)
        {
            throw new CopalInputException("--node-timeout must be positive and --in-flight at least 1");
        }

        var cpus = Cluster.NodeCpus.Parse(result.GetValue(NodeCpus), nodes);

        // Local nodes share this machine: more torch threads than cores in all makes OpenMP teams wait on each other.
        var nodeThreads = result.GetValue(NodeThreads) ?? cpus?.Fewest ?? Math.Max(1, Environment.ProcessorCount / Math.Max(1, nodes));
        if (nodeThreads < 1)
        {
            throw new CopalInputException($"--node-threads must be at least 1, got {nodeThreads}");
        }

        Planning.ByteSize.Parse(result.GetValue(NodeMemory)!);
        return new ClusterOptions(
            nodes,
            seeds,
            Math.Max(1, result.GetValue(MinNodes)),
            result.GetValue(Host)!,
            result.GetValue(Port),
            result.GetValue(NodeMemory)!,
            nodeThreads,
            // A node alone in the pipeline with work (filling, draining, a wave) takes the cores the others leave idle, unless pinned to its own.
            cpus is null ? Math.Max(nodeThreads, Environment.ProcessorCount) : nodeThreads,
            new ClusterLimits(TimeSpan.FromSeconds(timeout), inFlight),
            result.GetValue(PublicHost),
            TimeSpan.FromSeconds(Math.Max(0, result.GetValue(ReplaceTimeout))),
            cpus);
    }

    private static int EnvInt(string variable, int fallback) =>
        EnvironmentVariables.Get(variable) is not { } text ? fallback
        : int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v
        : throw new CopalInputException($"{variable}={text}: expected an integer");
}
