using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>The table `copal bench perf` prints: each measure of its report against its target.</summary>
public static class PerfTable
{
    public static string Markdown(JsonObject perf)
    {
        string Value(string key, string unit = "")
        {
            var node = perf[key];
            return node is null ? "skipped" : Format(node.GetValue<double>()) + unit;
        }

        // Each round's own ratio, in the order of the rounds: the spread is part of the figure.
        static string Rounds(JsonNode? rounds, string numerator, string denominator) => rounds is JsonArray all
            ? "; median of rounds " + string.Join(", ", all.Select(r => Format(r![numerator]!.GetValue<double>() / r[denominator]!.GetValue<double>())))
            : "";

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"| measure | value |");
        text.AppendLine("|---|---|");
        text.AppendLine(CultureInfo.InvariantCulture, $"| dense forward | {Value("forward_tokens_per_s")} tokens/s, {Value("forward_gflops")} GFLOP/s |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| plain matmul, same shapes | {Value("matmul_gflops")} GFLOP/s |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| forward / matmul | {Value("forward_over_matmul")} |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| copal stage / dense forward | {Value("copal_stage_over_forward")} (target <= 1.8{Rounds(perf["rounds"], "copal_stage_seconds", "forward_seconds")}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| wanda stage / dense forward | {Value("wanda_stage_over_forward")} (target <= 1.2{Rounds(perf["rounds"], "wanda_stage_seconds", "forward_seconds")}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| importance GEMM / plain matmul | {Value("importance_gemm_efficiency")} (target >= 0.7), {perf["importance_precision"]} operands |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| cluster stage / in-process stage | {Value("cluster_over_inprocess")} (target <= 1.15{Rounds(perf["cluster"]?["rounds"], "cluster_stage_seconds", "inprocess_stage_seconds")}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| cluster stage with TLS / without | {Value("tls_cluster_over_plain")} (target <= 1.05{Rounds(perf["cluster"]?["rounds"], "tls_cluster_stage_seconds", "cluster_stage_seconds")}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| copal stage, one core / 2 nodes on a core each (pipeline) | {Value("pipeline_speedup_2_nodes")} (target >= 1.7{Rounds(perf["scaling"]?["rounds"], "copal_one_process_seconds", "copal_2_nodes_seconds")}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| wanda stage, pruned propagation, one core / 2 nodes (wave) | {Value("wave_speedup_2_nodes")} (no gain expected: a wave's nodes work in turn{Rounds(perf["scaling"]?["rounds"], "wanda_one_process_seconds", "wanda_2_nodes_seconds")}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| tokenization, tokenizer.model (own SentencePiece) | {Value("tokenize_sentencepiece_mb_per_s", " MB/s")} |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| tokenization, tokenizer.json (Hugging Face tokenizers) | {Value("tokenize_tokenizer_json_mb_per_s", " MB/s")} |");
        string Storage(string key) => perf["storage"]?[key] is { } node ? Format(node.GetValue<double>()) : "skipped";
        text.AppendLine(CultureInfo.InvariantCulture, $"| stage weights / model, --store masks | {Value("storage_masks_over_model")} (target <= 0.08; --store full {Storage("full_over_model")}; copal accumulator, float32, either store: {Storage("copal_accumulator_over_model")}) |");
        string Storage7B(string key) => perf["llama_7b"]?["storage"]?[key] is { } node ? Format(node.GetValue<double>()) : "skipped";
        string RunGB(string key) => perf["llama_7b"]?["storage"]?["three_stage_copal_run_bytes"]?[key] is { } node ? Format(node.GetValue<long>() / 1e9) + " GB" : "skipped";
        text.AppendLine(CultureInfo.InvariantCulture, $"| 7B-shaped stage weights / model, --store masks | {Value("storage_7b_masks_over_model")} (target <= 0.08; --store full {Storage7B("full_over_model")}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| 7B-shaped three-stage copal run on disk | {RunGB("masks_one_accumulator")} with --store masks (before: every stage's weights and accumulator, {RunGB("every_stage_full_with_accumulator")}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| planned stage seconds / measured, copal in process | {Value("plan_time_over_measured")} (target 0.75-1.25; {Seconds(perf["plan_time"], "predicted_seconds")} planned, {Seconds(perf["plan_time"], "measured_seconds")} measured) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| node peak RSS / planned, worst node | {Value("node_peak_rss_over_plan")} (target 0.85-1.15{NodePeaks(perf["node_memory"])}) |");
        var peak = perf["peak_rss_7b_bytes"];
        text.AppendLine(CultureInfo.InvariantCulture, $"| 7B-shaped peak RSS | {(peak is null ? "skipped" : Format(peak.GetValue<long>() / 1e9) + " GB")} (target <= 3 GB) |");
        return text.ToString();
    }

    private static string Seconds(JsonNode? part, string key) => part?[key] is { } node ? Format(node.GetValue<double>()) + " s" : "-";

    /// <summary>Each node's peak and plan, and the memory every node announced.</summary>
    private static string NodePeaks(JsonNode? memory) => memory?["node_peaks"] is JsonArray nodes
        ? "; " + string.Join(", ", nodes.Select(n => $"{n!["node"]!.GetValue<string>()} {Format(n["peak_rss_bytes"]!.GetValue<long>() / 1e9)} of {Format(n["planned_bytes"]!.GetValue<long>() / 1e9)} GB"))
            + $", --memory {Format(memory["node_memory_bytes"]!.GetValue<long>() / 1e9)} GB each"
        : "";

    private static string Format(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
