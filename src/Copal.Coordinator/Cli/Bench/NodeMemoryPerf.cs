using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Copal.Coordinator.Cluster;
using Copal.Coordinator.Reporting;
using Copal.Model;
using Copal.Planning;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Serilog;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// The node-memory part of `copal bench perf`: a COPAL `copal prune --nodes N` of a checkpoint
/// that no single node's --memory holds, each node's peak RSS beside what the planner planned
/// for it; and, first, the same prune of a tiny checkpoint, whose node peaks are the process's
/// fixed runtime (<see cref="CostModel.RuntimeBytes"/>).
/// </summary>
public sealed class NodeMemoryPerf(PerfSettings settings)
{
    public const int Nodes = 2;

    /// <summary>LLaMA-7B's widths with 2 layers per node: 3.2 GB of float32 weights and COPAL state per node, a model no node holds alone.</summary>
    public static ModelShape Shape { get; } = ModelShape.Llama7B with { Layers = 2 * Nodes, Positions = SeqLen };

    /// <summary>A checkpoint whose layers and head are negligible beside the process itself.</summary>
    public static ModelShape RuntimeShape { get; } = new(256, 688, Nodes, 4, 4096, SeqLen);

    /// <summary>Memory, not speed, is measured: few samples, two micro-batches.</summary>
    public const int Samples = 16;

    public const int SeqLen = 128;

    public const int InFlight = 4;

    /// <summary>The nodes announce the busiest node's plan plus this share, so a plan that far low would overrun their --memory.</summary>
    public const double Headroom = 0.15;

    /// <summary>Room the coordinator process needs beside the nodes (embedding and lm_head in float32, the runtime).</summary>
    private const long CoordinatorBytes = 3L << 30;

    /// <summary>The peaks against the plan, and the worst node's peak over its plan (null when skipped).</summary>
    public (double? Worst, JsonObject Details) Measure(string root)
    {
        var details = new JsonObject
        {
            ["shape"] = Shape.ToString(),
            ["method"] = Metrics.NameOf(PruningMethod.Copal),
            ["nodes"] = Nodes,
            ["samples"] = Samples,
            ["seqlen"] = SeqLen,
            ["batch_size"] = settings.Compute.BatchSize,
            ["in_flight"] = InFlight,
            ["dtype"] = PerfCommand.DTypeName(settings.Compute.DType),
        };
        var runtimeDir = Path.Combine(root, "node-memory-runtime");
        var modelDir = Path.Combine(root, "node-memory");
        try
        {
            Log.Information("Node memory: a cluster prune of a tiny checkpoint ({Shape}) for the nodes' fixed runtime", RuntimeShape);
            RandomCheckpoint.Write(runtimeDir, RuntimeShape, StorageType.BF16);
            var runtime = Prune(runtimeDir, Path.Combine(root, "node-memory-runtime-out"), 4 * ByteSize.GiB);
            details["runtime"] = new JsonObject
            {
                ["shape"] = RuntimeShape.ToString(),
                ["node_peak_rss_bytes"] = runtime.Peaks.Nodes.Values.Max(),
                ["planned_runtime_bytes"] = CostModel.RuntimeBytes,
            };
            Directory.Delete(runtimeDir, recursive: true);

            Log.Information("Node memory: generating a checkpoint of LLaMA-7B's widths ({Shape}, BF16) in {Directory}", Shape, modelDir);
            RandomCheckpoint.Write(modelDir, Shape, StorageType.BF16);
            var (single, busiest) = Planned(modelDir);
            var memory = RoundUp((long)(busiest * (1 + Headroom)), 64L << 20);
            details["single_node_planned_bytes"] = single;
            details["node_memory_bytes"] = memory;
            if (single <= memory)
            {
                Log.Warning("One node of {Memory} could hold the whole model ({Single}): the node-memory run does not show a split that is needed", ByteSize.Format(memory), ByteSize.Format(single));
            }

            var available = ProcFs.MemAvailable();
            var needed = (Nodes * memory) + CoordinatorBytes;
            if (available < needed)
            {
                var reason = $"only {available / 1e9:F1} GB of memory available, the node-memory run needs {needed / 1e9:F1} GB";
                Log.Warning("Skipping the node-memory run: {Reason}", reason);
                details["skipped"] = reason;
                return (null, details);
            }

            var run = Prune(modelDir, Path.Combine(root, "node-memory-out"), memory);
            details["prune_seconds"] = run.Seconds;
            details["coordinator_peak_rss_bytes"] = run.Peaks.Coordinator;
            var nodes = new JsonArray();
            double? worst = null;
            foreach (var shard in run.Plan)
            {
                var node = shard!["node"]!.GetValue<string>();
                var planned = shard["planned_bytes"]!.GetValue<long>();
                var peak = run.Peaks.Nodes.GetValueOrDefault(node);
                var ratio = (double)peak / planned;
                Log.Information("Node memory: {Node} (layers {First}-{Last}) peak RSS {Peak:F2} GB, planned {Planned:F2} GB: {Ratio:F3}", node, shard["first_layer"]!.GetValue<int>(), shard["last_layer"]!.GetValue<int>(), peak / 1e9, planned / 1e9, ratio);
                nodes.Add(new JsonObject
                {
                    ["node"] = node,
                    ["first_layer"] = shard["first_layer"]!.GetValue<int>(),
                    ["last_layer"] = shard["last_layer"]!.GetValue<int>(),
                    ["planned_bytes"] = planned,
                    ["peak_rss_bytes"] = peak,
                    ["capacity_bytes"] = shard["capacity_bytes"]!.GetValue<long>(),
                    ["peak_over_plan"] = ratio,
                });

                // The worst node is the one furthest from its plan, either way.
                if (worst is null || Math.Abs(Math.Log(ratio)) > Math.Abs(Math.Log(worst.Value)))
                {
                    worst = ratio;
                }
            }

            details["node_peaks"] = nodes;
            return (worst, details);
        }
        finally
        {
            foreach (var dir in new[] { runtimeDir, modelDir })
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        }
    }

    /// <summary>What the planner plans for the whole model on one node, and for the busiest of <see cref="Nodes"/>.</summary>
    private (long Single, long Busiest) Planned(string modelDir)
    {
        using var model = LlamaModel.Open(modelDir);
        var request = PlanRequestFactory.Create(PlannedModel.Of(model), PruningMethod.Copal, Propagation.Dense, Samples, SeqLen, settings.Compute.BatchSize, InFlight, settings.Compute.DType);
        long Busiest(int nodes) => LayerPlanner.Plan(request, Enumerable.Range(0, nodes).Select(i => new NodeCapacity($"node-{i}", long.MaxValue / 4)).ToList()).Shards.Max(s => s.TotalBytes);
        return (Busiest(1), Busiest(Nodes));
    }

    /// <summary>A `copal prune --nodes N` of one COPAL stage, every node announcing <paramref name="memory"/>, with the peaks of its processes and the plan it ran.</summary>
    private NodeMemoryRun Prune(string modelDir, string outDir, long memory)
    {
        var peaks = new NodePeaks();
        var clock = Stopwatch.StartNew();
        ChildCopal.Run(
            [
                .. ChildCopal.PruneArguments(modelDir, PruningMethod.Copal, Samples, SeqLen, settings.Compute, settings.Threads),
                "--importance-precision", PruneReport.PrecisionName(settings.ImportancePrecision),
                "--nodes", Nodes.ToString(CultureInfo.InvariantCulture), "--node-memory", memory.ToString(CultureInfo.InvariantCulture),
                "--in-flight", InFlight.ToString(CultureInfo.InvariantCulture), "--out", outDir,
            ],
            peaks.Sample);
        var seconds = clock.Elapsed.TotalSeconds;
        if (peaks.Nodes.Count != Nodes)
        {
            throw new InvalidOperationException($"found {peaks.Nodes.Count} copal-node processes of the prune in /proc, expected {Nodes}");
        }

        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")))!;
        var plan = report["cluster"]!["plans"]!.AsArray()[^1]!.AsArray();
        Directory.Delete(outDir, recursive: true);
        return new NodeMemoryRun(peaks, plan, seconds);
    }

    private static long RoundUp(long value, long step) => (value + step - 1) / step * step;
}
