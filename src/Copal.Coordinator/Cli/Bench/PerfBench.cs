using System.Text.Json.Nodes;
using Copal.Coordinator.Reporting;
using Copal.Model;
using Serilog;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// The measurements of `copal bench perf` on a generated checkpoint, and their report. Everything
/// that is compared is measured in the same run, side by side in every round; rates are the
/// fastest round's, ratios the median of the rounds' (<see cref="RoundRatio"/>), so they stay
/// meaningful on a machine busy with other work.
/// </summary>
public sealed class PerfBench(PerfSettings settings)
{
    public JsonObject Run()
    {
        var root = Path.Combine(settings.WorkRoot, $"copal-perf-{Environment.ProcessId}-{DateTime.UtcNow:yyyyMMddHHmmss}");
        Directory.CreateDirectory(root);
        try
        {
            return Measure(root);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private JsonObject Measure(string root)
    {
        var shape = settings.ModelShape;
        var modelDir = Path.Combine(root, "model");
        // Stored in BF16, as released LLaMA checkpoints are; the compute dtype is --dtype.
        Log.Information("Generating a random LLaMA checkpoint ({Shape}, BF16) in {Directory}", shape, modelDir);
        RandomCheckpoint.Write(modelDir, shape, StorageType.BF16);

        var json = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["hidden"] = shape.Hidden,
                ["intermediate"] = shape.Intermediate,
                ["layers"] = shape.Layers,
                ["heads"] = shape.Heads,
                ["vocab"] = shape.Vocab,
                ["parameters"] = shape.Parameters,
            },
            ["samples"] = settings.Samples,
            ["seqlen"] = settings.SeqLen,
            ["tokens"] = settings.Tokens,
            ["batch_size"] = settings.Compute.BatchSize,
            ["threads"] = settings.Threads,
            ["dtype"] = PerfCommand.DTypeName(settings.Compute.DType),
            ["importance_precision"] = PruneReport.PrecisionName(settings.ImportancePrecision),
            ["repeat"] = settings.Repeat,
        };
        var engine = new EnginePerf(settings).Measure(modelDir, root);
        engine.WriteTo(json);
        var (planTime, planTimeDetails) = PlanTimePerf.Measure(modelDir, settings, engine);
        json["plan_time"] = planTimeDetails;
        json["plan_time_over_measured"] = planTime;
        var tokenize = settings.TokenizeMegabytes > 0 ? new TokenizerPerf(settings.TokenizeMegabytes).Measure(root) : null;
        json["tokenize"] = tokenize ?? new JsonObject { ["skipped"] = "--tokenize-mb 0" };
        json["tokenize_sentencepiece_mb_per_s"] = tokenize?["sentencepiece_mb_per_s"]?.GetValue<double>();
        json["tokenize_tokenizer_json_mb_per_s"] = tokenize?["tokenizer_json_mb_per_s"]?.GetValue<double>();

        var storage = new StoragePerf(settings).Measure(modelDir, root);
        json["storage"] = storage;
        json["storage_masks_over_model"] = storage["masks_over_model"]!.GetValue<double>();

        var cluster = settings.ClusterNodes > 0 ? ClusterStage(modelDir, root) : null;
        json["cluster"] = cluster is null ? null : new JsonObject
        {
            ["nodes"] = settings.ClusterNodes,
            ["samples"] = settings.ClusterSamples,
            ["inprocess_stage_seconds"] = cluster.InProcessSeconds,
            ["cluster_stage_seconds"] = cluster.ClusterSeconds,
            ["tls_cluster_stage_seconds"] = cluster.TlsClusterSeconds,
            ["rounds"] = new JsonArray(cluster.Rounds.Select(r => (JsonNode)new JsonObject
            {
                ["inprocess_stage_seconds"] = r.InProcess,
                ["cluster_stage_seconds"] = r.Cluster,
                ["tls_cluster_stage_seconds"] = r.TlsCluster,
            }).ToArray()),
        };
        json["cluster_over_inprocess"] = cluster?.Ratio;
        json["tls_cluster_over_plain"] = cluster?.TlsRatio;

        var scaling = settings.Scaling ? new ScalingPerf(settings).Measure(modelDir, root) : null;
        json["scaling"] = scaling?.Json() ?? new JsonObject { ["skipped"] = "--skip-scaling" };
        json["pipeline_speedup_2_nodes"] = scaling?.PipelineSpeedup;
        json["wave_speedup_2_nodes"] = scaling?.WaveSpeedup;

        Directory.Delete(modelDir, recursive: true);
        var (nodeMemory, nodeMemoryDetails) = settings.RunNodeMemory ? new NodeMemoryPerf(settings).Measure(root) : (null, new JsonObject { ["skipped"] = "--skip-node-memory" });
        json["node_memory"] = nodeMemoryDetails;
        json["node_peak_rss_over_plan"] = nodeMemory;
        var (peak, big) = settings.Run7B ? new PeakMemory7B(settings).Measure(root) : (null, new JsonObject { ["skipped"] = "--skip-7b" });
        json["peak_rss_7b_bytes"] = peak;
        json["llama_7b"] = big;
        json["storage_7b_masks_over_model"] = big["storage"]?["masks_over_model"]?.GetValue<double>();
        json["targets"] = new JsonObject
        {
            ["copal_stage_over_forward"] = 1.8,
            ["wanda_stage_over_forward"] = 1.2,
            ["importance_gemm_efficiency"] = 0.7,
            ["cluster_over_inprocess"] = 1.15,
            ["tls_cluster_over_plain"] = 1.05,
            ["pipeline_speedup_2_nodes"] = 1.7,
            ["peak_rss_7b_bytes"] = 3e9,
            ["storage_masks_over_model"] = 0.08,
            ["storage_7b_masks_over_model"] = 0.08,
            ["node_peak_rss_over_plan"] = new JsonArray(0.85, 1.15),
            ["plan_time_over_measured"] = new JsonArray(0.75, 1.25),
        };
        return json;
    }

    private ClusterStageTimes ClusterStage(string modelDir, string root)
    {
        var request = new ClusterStageRequest(modelDir, Path.Combine(root, "cluster"), settings.ClusterNodes, settings.ClusterSamples, settings.SeqLen, settings.Compute, settings.Threads, settings.ImportancePrecision, settings.Repeat);
        Directory.CreateDirectory(request.WorkDirectory);
        Log.Information("Timing a copal stage in one process and on {Nodes} node processes", settings.ClusterNodes);
        if (settings.Shape.Layers % settings.ClusterNodes != 0)
        {
            Log.Warning("{Layers} layers do not split evenly over {Nodes} nodes: the node with the most sets the pace, so the ratio measures that imbalance too", settings.Shape.Layers, settings.ClusterNodes);
        }

        return ClusterStagePerf.Measure(request);
    }
}
