using System.Text.Json.Nodes;
using Copal.Model;
using Copal.Stages;
using Serilog;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// One stage of a child `copal prune` (<see cref="ChildCopal.PruneArguments"/>), as the cluster
/// parts of `copal bench perf` time it: the stage seconds of its report.json, the digests of the
/// tensors it wrote, and on nodes each node's busy and idle seconds.
/// </summary>
public sealed record ChildStage(double Seconds, IReadOnlyDictionary<string, string> Digests, JsonArray? NodeActivity)
{
    /// <summary>Runs the prune into <paramref name="outDir"/>, which is deleted afterwards.</summary>
    public static ChildStage Run(IReadOnlyList<string> pruneArguments, string outDir, IReadOnlyDictionary<string, string>? environment = null, string? cpus = null)
    {
        ChildCopal.Run([.. pruneArguments, "--out", outDir, "--force"], null, environment, cpus);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")))!;
        var seconds = report["stages"]!.AsArray().Sum(s => s!["seconds"]!.GetValue<double>());
        var digests = TensorDigests.Of(Path.Combine(outDir, StageCheckpoint.DirectoryName(1, PerfSettings.Dataset)));
        var activity = report["cluster"]?["node_activity"]?.DeepClone().AsArray();
        foreach (var node in activity ?? new JsonArray())
        {
            // Where a cluster stage loses against one process: nodes waiting for input (pipeline fill/drain, imbalance).
            Log.Information("  {Node}: busy {Busy:F2}s, idle {Idle:F2}s", node!["node"]!.GetValue<string>(), node["busy_seconds"]!.GetValue<double>(), node["idle_seconds"]!.GetValue<double>());
        }

        Directory.Delete(outDir, recursive: true);
        return new ChildStage(seconds, digests, activity);
    }
}
