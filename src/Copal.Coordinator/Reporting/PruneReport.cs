using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Copal.Evaluation;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Runs;

namespace Copal.Coordinator.Reporting;

/// <summary>The report of one continual pruning run: JSON, Markdown and PNG plots.</summary>
public static class PruneReport
{
    public static JsonObject Json(string model, PruningSettings s, IReadOnlyList<string> datasets, PruneRunResult run, ComputeOptions compute)
    {
        var p = run.Matrix;
        var report = new JsonObject
        {
            ["model"] = model,
            ["method"] = Metrics.NameOf(s.Method),
            ["strategy"] = s.Strategy.ToString().ToLowerInvariant(),
            ["group"] = GroupName(s.Mask),
            ["propagate"] = s.Propagation.ToString().ToLowerInvariant(),
            ["datasets"] = new JsonArray(datasets.Select(d => (JsonNode?)d).ToArray()),
            ["dense_perplexity"] = new JsonObject(datasets.Select(d => KeyValuePair.Create(d, Measured(PruneRunResult.PerplexityOn(run.Dense, d))))),
            ["perplexity"] = new JsonArray(p.Select(row => (JsonNode?)new JsonArray(row.Select(Measured).ToArray())).ToArray()),
            ["bwt_mean"] = ContinualMetrics.BwtMean(p),
            ["bwt_max"] = ContinualMetrics.BwtMax(p),
            ["avg_ppl"] = Measured(ContinualMetrics.AveragePerplexity(p)),
            ["achieved_sparsity"] = run.Stages.Count == 0 ? 0 : run.Stages[^1].Sparsity.Overall,
            ["stages"] = new JsonArray(run.Stages.Select(st => (JsonNode?)new JsonObject
            {
                ["dataset"] = st.Dataset,
                ["seconds"] = st.Seconds,
                ["eval_seconds"] = st.EvalSeconds,
                ["checkpoint"] = st.Checkpoint,
                ["achieved_sparsity"] = st.Sparsity.Overall,
                ["bytes_written"] = st.BytesWritten,
                ["linear_sparsity"] = LinearSparsity(st.Sparsity),
                ["shards"] = new JsonArray(st.Shards.Select(sh => (JsonNode?)new JsonObject { ["file"] = sh.FileName, ["sha256"] = sh.Sha256 }).ToArray()),
                ["importance"] = new JsonArray(st.Importance.Select(sh => (JsonNode?)new JsonObject { ["file"] = sh.FileName, ["sha256"] = sh.Sha256 }).ToArray()),
            }).ToArray()),
        };
        AddSettings(report, s, compute);
        return report;
    }

    /// <summary>A perplexity, or null where it is missing (the dataset's test split was not found).</summary>
    private static JsonNode? Measured(double value) => double.IsFinite(value) ? JsonValue.Create(value) : null;

    /// <summary>The settings every report records: what decides the numbers.</summary>
    public static void AddSettings(JsonObject target, PruningSettings s, ComputeOptions compute)
    {
        target["sparsity"] = s.Mask.Sparsity;
        target["pattern"] = s.Mask.Pattern?.ToString();
        target["samples"] = s.Samples;
        target["seqlen"] = s.SeqLen;
        target["sampling"] = s.Sampling.ToString().ToLowerInvariant();
        target["seed"] = s.SamplingSeed;
        target["perturbation"] = s.Perturbation.Model.ToString().ToLowerInvariant();
        target["epsilon"] = s.Perturbation.Model == PerturbationModel.Gaussian ? s.Perturbation.Epsilon : null;
        target["eval_windows"] = s.EvalWindows;
        target["importance_precision"] = Metrics.Describe(s.Method).HasImportanceGemm ? PrecisionName(s.ImportancePrecision) : null;
        target["dtype"] = compute.DType.ToString();
        target["batch_size"] = compute.BatchSize;
    }

    /// <summary>What crossed the data path and how busy each node was, per stage.</summary>
    public static JsonObject ClusterActivity(IReadOnlyList<Cluster.ClusterPipeline> pipelines, int unreachableEvents)
    {
        var activity = pipelines.SelectMany(p => p.NodeActivity).ToList();
        var sent = pipelines.Sum(p => p.BytesSent);
        return new JsonObject
        {
            ["nodes"] = activity.Select(a => a.NodeId).Distinct().Count(),
            ["pipelines"] = pipelines.Count,
            ["unreachable_events"] = unreachableEvents,
            ["bytes_sent_by_coordinator"] = sent,
            ["bytes_streamed"] = sent + activity.Sum(a => a.BytesForwarded),
            ["node_activity"] = new JsonArray(activity.Select(a => (JsonNode?)new JsonObject
            {
                ["node"] = a.NodeId,
                ["stage"] = a.Stage,
                ["busy_seconds"] = a.BusySeconds,
                ["idle_seconds"] = a.IdleSeconds,
                ["bytes_forwarded"] = a.BytesForwarded,
            }).ToArray()),

            // Each pipeline's plan (a lost node makes a new one), so a node's memory can be held against what was planned for it.
            ["plans"] = new JsonArray(pipelines.Select(p => (JsonNode?)new JsonArray(p.Plan.Select(s => (JsonNode?)new JsonObject
            {
                ["node"] = s.NodeId,
                ["first_layer"] = s.FirstLayer,
                ["last_layer"] = s.LastLayer,
                ["planned_bytes"] = s.TotalBytes,
                ["capacity_bytes"] = s.CapacityBytes,
            }).ToArray())).ToArray()),
        };
    }

    public static string PrecisionName(ImportancePrecision precision) => precision.ToString().ToLowerInvariant();

    public static string GroupName(MaskPolicy mask) => mask.Pattern != null ? "nm" : mask.Group switch
    {
        MaskGroup.Row => "row",
        MaskGroup.Matrix => "matrix",
        _ => "obs-block",
    };

    private static JsonObject LinearSparsity(SparsityReport sparsity)
    {
        var o = new JsonObject();
        foreach (var (name, zeros, count) in sparsity.Linears)
        {
            o[name] = (double)zeros / count;
        }

        return o;
    }

    public static string Markdown(JsonObject report, IReadOnlyList<string> datasets)
    {
        string F(JsonNode? n) => n is null ? "-" : n.GetValue<double>().ToString("F3", CultureInfo.InvariantCulture);
        string Perplexity(JsonNode? n) => n is null ? "missing" : F(n);
        var md = new StringBuilder();
        md.AppendLine($"# Copal run: {report["method"]} / {report["strategy"]}");
        md.AppendLine();
        md.AppendLine($"Model `{report["model"]}`; sparsity {report["sparsity"]} (pattern {report["pattern"]?.ToString() ?? "none"}, group {report["group"]}); propagation {report["propagate"]}; {report["samples"]} samples of {report["seqlen"]} tokens ({report["sampling"]}); achieved sparsity {F(report["achieved_sparsity"])}.");
        md.AppendLine();
        md.AppendLine("| after stage | " + string.Join(" | ", datasets) + " |");
        md.AppendLine("|---|" + string.Concat(datasets.Select(_ => "---|")));
        md.AppendLine("| dense | " + string.Join(" | ", datasets.Select(d => Perplexity(report["dense_perplexity"]![d]))) + " |");
        var rows = report["perplexity"]!.AsArray();
        for (var i = 0; i < rows.Count; i++)
        {
            md.AppendLine($"| {i + 1} ({datasets[i]}) | " + string.Join(" | ", rows[i]!.AsArray().Select(Perplexity)) + " |");
        }

        md.AppendLine();
        md.AppendLine($"BWT mean {F(report["bwt_mean"])}, BWT max {F(report["bwt_max"])}, average perplexity {F(report["avg_ppl"])}.");
        md.AppendLine();
        var written = report["stages"]!.AsArray().Select((st, i) => $"{i + 1} ({datasets[i]}) {Planning.ByteSize.Format(st!["bytes_written"]!.GetValue<long>())}");
        md.AppendLine($"Bytes written per stage: {string.Join(", ", written)}.");
        return md.ToString();
    }
}
