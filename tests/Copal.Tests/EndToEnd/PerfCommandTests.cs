using System.Text.Json.Nodes;
using Copal.Coordinator.Cli.Bench;
using Xunit;

namespace Copal.Tests;

/// <summary>`copal bench perf` on a tiny generated model: the report's shape, not its timings.</summary>
public class PerfCommandTests
{
    private static readonly string[] Measures =
    [
        "forward_tokens_per_s", "forward_gflops", "matmul_gflops", "copal_stage_over_forward", "wanda_stage_over_forward", "importance_gemm_efficiency", "storage_masks_over_model",
    ];

    private static readonly string[] TinyShape = ["--samples", "2", "--seqlen", "32", "--hidden", "64", "--intermediate", "128", "--layers", "2", "--heads", "4"];

    private static readonly string[] TinyModel = [.. TinyShape, "--repeat", "1", "--tokenize-mb", "1"];

    [Fact]
    public void A_tiny_perf_run_reports_every_measure()
    {
        using var dir = new TempDir();
        var report = dir.File("perf.json");

        var result = CopalCli.Run(["bench", "perf", .. TinyModel, "--skip-7b", "--skip-cluster", "--skip-scaling", "--skip-node-memory", "--work", dir.Path, "--report", report]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        var json = JsonNode.Parse(File.ReadAllText(report))!.AsObject();
        foreach (var key in Measures)
        {
            Assert.True(json[key]!.GetValue<double>() > 0, $"{key} = {json[key]}");
        }

        // Skipped parts are present, as null, with the reason.
        Assert.True(json.ContainsKey("cluster_over_inprocess"));
        Assert.Null(json["cluster_over_inprocess"]);
        Assert.True(json.ContainsKey("tls_cluster_over_plain"));
        Assert.Null(json["tls_cluster_over_plain"]);
        foreach (var key in new[] { "pipeline_speedup_2_nodes", "wave_speedup_2_nodes" })
        {
            Assert.True(json.ContainsKey(key));
            Assert.Null(json[key]);
        }

        Assert.Equal("--skip-scaling", json["scaling"]!["skipped"]!.GetValue<string>());
        Assert.True(json.ContainsKey("peak_rss_7b_bytes"));
        Assert.Null(json["peak_rss_7b_bytes"]);
        Assert.Equal("--skip-7b", json["llama_7b"]!["skipped"]!.GetValue<string>());
        Assert.Contains("copal stage / dense forward", result.Stdout);

        // BF16 weights: a bit of mask per 16 bits of linear weight; the full stage is the whole model again.
        Assert.True(json["storage_masks_over_model"]!.GetValue<double>() <= 1.0 / 16, $"masks {json["storage_masks_over_model"]}");
        Assert.True(json["storage"]!["full_over_model"]!.GetValue<double>() >= 1, $"full {json["storage"]!["full_over_model"]}");

        // A three-stage copal run: three stages' weights or masks, and the accumulator once (three times before).
        var storage = json["storage"]!;
        long Bytes(string key) => storage[key]!.GetValue<long>();
        var run = storage["three_stage_copal_run_bytes"]!;
        Assert.Equal((3 * Bytes("masks_stage_bytes")) + Bytes("copal_accumulator_bytes"), run["masks_one_accumulator"]!.GetValue<long>());
        Assert.Equal(3 * (Bytes("full_stage_bytes") + Bytes("copal_accumulator_bytes")), run["every_stage_full_with_accumulator"]!.GetValue<long>());

        // Both tokenizers read the same generated JSON-lines split, of at least the size asked for.
        var tokenize = json["tokenize"]!;
        Assert.True(tokenize["file_bytes"]!.GetValue<long>() >= 1 << 20);
        foreach (var key in new[] { "tokenize_sentencepiece_mb_per_s", "tokenize_tokenizer_json_mb_per_s" })
        {
            Assert.True(json[key]!.GetValue<double>() > 0, $"{key} = {json[key]}");
        }

        Assert.True(tokenize["sentencepiece_tokens"]!.GetValue<int>() > 0 && tokenize["tokenizer_json_tokens"]!.GetValue<int>() > 0);

        // The generated checkpoints are gone.
        Assert.Equal([report], Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void The_cluster_measure_runs_real_node_processes()
    {
        using var dir = new TempDir();
        var report = dir.File("perf.json");

        var result = CopalCli.Run(["bench", "perf", .. TinyShape, "--repeat", "2", "--tokenize-mb", "0", "--skip-7b", "--skip-node-memory", "--nodes", "2", "--cluster-samples", "4", "--work", dir.Path, "--report", report]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        var json = JsonNode.Parse(File.ReadAllText(report))!.AsObject();
        var cluster = json["cluster"]!;
        Assert.Equal(2, cluster["nodes"]!.GetValue<int>());
        Assert.Equal(4, cluster["samples"]!.GetValue<int>());
        // Every --repeat round times both sides: the seconds are the fastest of each side, the ratio the median of the rounds' ratios.
        AssertRounds(cluster["rounds"]!.AsArray(), cluster, json["cluster_over_inprocess"]!, "cluster_stage_seconds", "inprocess_stage_seconds");

        // The same cluster stage with TLS on remoting and the data path, in every round.
        AssertRounds(cluster["rounds"]!.AsArray(), cluster, json["tls_cluster_over_plain"]!, "tls_cluster_stage_seconds", "cluster_stage_seconds");
        var rounds = json["rounds"]!.AsArray();
        AssertRounds(rounds, json, json["copal_stage_over_forward"]!, "copal_stage_seconds", "forward_seconds");
        AssertRounds(rounds, json, json["wanda_stage_over_forward"]!, "wanda_stage_seconds", "forward_seconds");
        Assert.Contains("2 nodes", result.Stderr);

        // One process on one core against 2 nodes on a core each, a pipeline (copal) and a wave (wanda, pruned propagation).
        var scaling = json["scaling"]!;
        Assert.Equal("0,1", scaling["node_cpus"]!.GetValue<string>());
        AssertRounds(scaling["rounds"]!.AsArray(), scaling, json["pipeline_speedup_2_nodes"]!, "copal_one_process_seconds", "copal_2_nodes_seconds");
        AssertRounds(scaling["rounds"]!.AsArray(), scaling, json["wave_speedup_2_nodes"]!, "wanda_one_process_seconds", "wanda_2_nodes_seconds");
        Assert.All(scaling["rounds"]!.AsArray(), r => Assert.Equal(2, r!["copal_node_activity"]!.AsArray().Count));
        Assert.Contains("| copal stage, one core / 2 nodes on a core each (pipeline) |", result.Stdout);
        Assert.Equal([report], Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void Stages_that_wrote_different_bits_fail_the_bench()
    {
        var bits = new SameBits("copal stage");
        bits.Check("one process", new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" });
        bits.Check("2 nodes", new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" });
        var e = Assert.Throws<NotBitIdenticalException>(() => bits.Check("3 nodes", new Dictionary<string, string> { ["a"] = "1", ["b"] = "3" }));
        Assert.Equal("copal stage: 3 nodes wrote 1 tensors differently from one process (first b)", e.Message);
        Assert.Throws<NotBitIdenticalException>(() => bits.Check("with TLS", new Dictionary<string, string> { ["a"] = "1" }));
    }

    [Theory]
    [InlineData(new[] { 1.2 }, 1.2)]
    [InlineData(new[] { 1.9, 1.1, 1.5 }, 1.5)]
    [InlineData(new[] { 1.4, 1.0, 1.2, 1.6 }, 1.3)]
    public void A_ratio_is_the_median_of_the_rounds_ratios(double[] ratios, double median) =>
        Assert.Equal(median, RoundRatio.Median(ratios.Select(r => (r * 10, 10.0))), 12);

    [Fact]
    public void A_ratio_needs_a_round() => Assert.Throws<ArgumentException>(() => RoundRatio.Median([]));

    [Fact]
    public void Bad_perf_settings_are_refused_before_anything_is_generated()
    {
        using var dir = new TempDir();
        var result = CopalCli.Run(["bench", "perf", .. TinyModel, "--nodes", "3", "--work", dir.Path]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--nodes 3: the generated model has only 2 layers", result.Stderr);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    private static void AssertRounds(JsonArray rounds, JsonNode seconds, JsonNode ratio, string numerator, string denominator)
    {
        Assert.Equal(2, rounds.Count);
        foreach (var side in new[] { numerator, denominator })
        {
            Assert.All(rounds, r => Assert.True(r![side]!.GetValue<double>() > 0));
            Assert.Equal(rounds.Min(r => r![side]!.GetValue<double>()), seconds[side]!.GetValue<double>());
        }

        var ratios = rounds.Select(r => r![numerator]!.GetValue<double>() / r[denominator]!.GetValue<double>()).ToList();
        Assert.Equal(ratios.Average(), ratio.GetValue<double>(), 9);
    }
}
