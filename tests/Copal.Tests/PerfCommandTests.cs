using System.Text.Json.Nodes;
using Copal.Coordinator.Cli;
using Xunit;

namespace Copal.Tests;

/// <summary>`copal bench perf` on a tiny generated model: the report's shape, not its timings.</summary>
public class PerfCommandTests
{
    private static readonly string[] Measures =
    [
        "forward_tokens_per_s", "forward_gflops", "matmul_gflops", "copal_stage_over_forward", "wanda_stage_over_forward", "importance_gemm_efficiency",
    ];

    private static readonly string[] TinyModel = ["--samples", "2", "--seqlen", "32", "--hidden", "64", "--intermediate", "128", "--layers", "2", "--heads", "4", "--repeat", "1"];

    [Fact]
    public void A_tiny_perf_run_reports_every_measure()
    {
        using var dir = new TempDir();
        var report = dir.File("perf.json");

        var result = CopalCli.Run(["bench", "perf", .. TinyModel, "--skip-7b", "--skip-cluster", "--work", dir.Path, "--report", report]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        var json = JsonNode.Parse(File.ReadAllText(report))!.AsObject();
        foreach (var key in Measures)
        {
            Assert.True(json[key]!.GetValue<double>() > 0, $"{key} = {json[key]}");
        }

        // Skipped parts are present, as null, with the reason.
        Assert.True(json.ContainsKey("cluster_over_inprocess"));
        Assert.Null(json["cluster_over_inprocess"]);
        Assert.True(json.ContainsKey("peak_rss_7b_bytes"));
        Assert.Null(json["peak_rss_7b_bytes"]);
        Assert.Equal("--skip-7b", json["llama_7b"]!["skipped"]!.GetValue<string>());
        Assert.Contains("copal stage / dense forward", result.Stdout);

        // The generated checkpoints are gone.
        Assert.Equal([report], Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void The_cluster_measure_is_a_hook_whose_times_give_the_ratio()
    {
        using var dir = new TempDir();
        ClusterStageRequest? seen = null;
        var settings = new PerfSettings
        {
            Shape = new ModelShape(64, 128, 2, 4, 4096, 0),
            Samples = 2,
            SeqLen = 32,
            Compute = ComputeOptions.Default,
            Threads = 1,
            Repeat = 1,
            ClusterNodes = 2,
            Run7B = false,
            WorkRoot = dir.Path,
        };
        var bench = new PerfBench(settings)
        {
            ClusterStage = request =>
            {
                seen = request;
                Assert.True(File.Exists(Path.Combine(request.ModelDirectory, "model.safetensors")));
                return new ClusterStageTimes(InProcessSeconds: 2, ClusterSeconds: 3);
            },
        };

        var json = bench.Run();

        Assert.Equal(2, seen!.Nodes);
        Assert.Equal(1.5, json["cluster_over_inprocess"]!.GetValue<double>());
        Assert.Equal(3, json["cluster"]!["cluster_stage_seconds"]!.GetValue<double>());
    }

    [Fact]
    public void Bad_perf_settings_are_refused_before_anything_is_generated()
    {
        using var dir = new TempDir();
        var result = CopalCli.Run(["bench", "perf", .. TinyModel, "--nodes", "3", "--work", dir.Path]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--nodes 3: the generated model has only 2 layers", result.Stderr);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }
}
