using System.Diagnostics;
using System.Text.Json.Nodes;
using Copal.Coordinator.Reporting;
using Copal.Model;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Serilog;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>The 7B-shaped part of `copal bench perf`: the peak memory of pruning a model of LLaMA-7B's shape, and the bytes its stages write with each store.</summary>
public sealed class PeakMemory7B(PerfSettings settings)
{
    /// <summary>Generates a LLaMA-7B-shaped BF16 checkpoint, prunes it in a child process and samples its peak RSS, then measures its stage storage.</summary>
    public (long? Peak, JsonObject Details) Measure(string root)
    {
        var shape = ModelShape.Llama7B;
        var method = settings.Method7B;
        // Room for the checkpoint, the stage's copy and slack (30 GB), plus the accumulator the method keeps.
        var metric = Metrics.Describe(method);
        var accumulator = shape.Layers * (((4L * metric.StateBytes(shape.Hidden, shape.Hidden)) + (2L * metric.StateBytes(shape.Intermediate, shape.Hidden))) + metric.StateBytes(shape.Hidden, shape.Intermediate));
        var needed = (30L << 30) + accumulator;
        var details = new JsonObject
        {
            ["shape"] = shape.ToString(),
            ["method"] = Metrics.NameOf(method),
            ["samples"] = settings.Samples7B,
            ["seqlen"] = settings.SeqLen7B,
            ["dtype"] = PerfCommand.DTypeName(settings.Compute.DType),
        };
        var free = new DriveInfo(Path.GetFullPath(root)).AvailableFreeSpace;
        if (free < needed)
        {
            var reason = $"only {free / 1e9:F1} GB free in {root}, the 7B-shaped run needs {needed / 1e9:F0} GB";
            Log.Warning("Skipping the 7B-shaped peak-memory run: {Reason}", reason);
            details["skipped"] = reason;
            return (null, details);
        }

        var modelDir = Path.Combine(root, "llama-7b");
        var outDir = Path.Combine(root, "llama-7b-out");
        try
        {
            var clock = Stopwatch.StartNew();
            Log.Information("Generating a random LLaMA-7B-shaped checkpoint ({Shape}, BF16) in {Directory}", shape, modelDir);
            RandomCheckpoint.Write(modelDir, shape with { Positions = Math.Max(settings.SeqLen7B, 2048) }, StorageType.BF16);
            details["generate_seconds"] = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var peak = 0L;
            ChildCopal.Run(
                [.. ChildCopal.PruneArguments(modelDir, method, settings.Samples7B, settings.SeqLen7B, settings.Compute, settings.Threads), "--out", outDir],
                pid => peak = Math.Max(peak, ProcFs.PeakRss(pid)));
            details["prune_seconds"] = clock.Elapsed.TotalSeconds;
            details["peak_rss_bytes"] = peak;
            Log.Information("7B-shaped run: peak RSS {Peak:F2} GB", peak / 1e9);
            Directory.Delete(outDir, recursive: true);
            Log.Information("Measuring the 7B-shaped checkpoint's stage storage with --store full and masks");
            details["storage"] = new StoragePerf(settings).Measure(modelDir, root);
            return (peak, details);
        }
        finally
        {
            foreach (var dir in new[] { modelDir, outDir })
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        }
    }
}
