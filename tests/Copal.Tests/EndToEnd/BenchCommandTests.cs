using System.Text.Json;
using Xunit;

namespace Copal.Tests;

public class BenchCommandTests
{
    private static readonly string[] Datasets = ["fiction", "science"];
    private static readonly string[] Methods = ["wanda", "magnitude"];
    private static readonly string[] Strategies = ["reset", "sequential"];

    [Fact]
    public void A_small_bench_reports_every_order_and_aggregates_them()
    {
        using var dir = new TempDir();
        var outDir = dir.File("bench");

        var result = CopalCli.Run(
            "bench", "--datasets", "fiction,science", "--methods", "wanda,magnitude", "--strategies", "reset,sequential",
            "--samples", "4", "--seqlen", "64", "--eval-windows", "3", "--out", outDir);

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "bench.json")));
        var root = json.RootElement;
        Assert.Equal(Datasets, root.GetProperty("datasets").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal(64, root.GetProperty("settings").GetProperty("seqlen").GetInt32());
        Assert.Equal(3, root.GetProperty("settings").GetProperty("eval_windows").GetInt32());

        var combinations = root.GetProperty("combinations").EnumerateArray().ToList();
        Assert.Equal(
            Methods.SelectMany(m => Strategies.Select(s => (m, s))),
            combinations.Select(c => (c.GetProperty("method").GetString()!, c.GetProperty("strategy").GetString()!)));

        foreach (var c in combinations)
        {
            var name = $"{c.GetProperty("method").GetString()}-{c.GetProperty("strategy").GetString()}";
            var runs = c.GetProperty("runs").EnumerateArray().ToList();
            Assert.Equal(2, runs.Count);
            Assert.Equal(
                ["fiction-science", "science-fiction"],
                runs.Select(r => string.Join('-', r.GetProperty("order").EnumerateArray().Select(e => e.GetString()))).Order());

            var bwtMean = new List<double>();
            var bwtMax = new List<double>();
            var avgPpl = new List<double>();
            foreach (var r in runs)
            {
                var order = r.GetProperty("order").EnumerateArray().Select(e => e.GetString()!).ToList();
                var p = Matrix(r.GetProperty("perplexity"));
                Assert.Equal(2, p.Length);
                Assert.All(p, row => Assert.Equal(2, row.Length));

                // Protocol: BWT over k < T of P[T][k] - P[k][k]; average perplexity over k of P[T][k].
                var t = p.Length - 1;
                var forgetting = Enumerable.Range(0, t).Select(k => p[t][k] - p[k][k]).ToList();
                bwtMean.Add(forgetting.Average());
                bwtMax.Add(forgetting.Max());
                avgPpl.Add(p[t].Average());
                AssertClose(bwtMean[^1], r.GetProperty("bwt_mean").GetDouble());
                AssertClose(bwtMax[^1], r.GetProperty("bwt_max").GetDouble());
                AssertClose(avgPpl[^1], r.GetProperty("avg_ppl").GetDouble());

                // Each run's stage checkpoints sit under OUT/<method>-<strategy>/<order>/.
                var runDir = Path.Combine(outDir, name, string.Join('-', order));
                for (var stage = 1; stage <= order.Count; stage++)
                {
                    Assert.True(File.Exists(Path.Combine(runDir, $"stage-{stage}-{order[stage - 1]}", "stage.json")), $"{runDir}: stage {stage} missing");
                }
            }

            var aggregate = c.GetProperty("aggregate");
            AssertAggregate(bwtMean, aggregate.GetProperty("bwt_mean"));
            AssertAggregate(bwtMax, aggregate.GetProperty("bwt_max"));
            AssertAggregate(avgPpl, aggregate.GetProperty("avg_ppl"));

            if (c.GetProperty("strategy").GetString() == "sequential")
            {
                // Weight stasis: pruning already pruned weights at the same sparsity changes nothing.
                Assert.All(bwtMean.Concat(bwtMax), v => Assert.Equal(0.0, v));
                Assert.Equal(0.0, aggregate.GetProperty("bwt_mean").GetProperty("worst").GetDouble());
                Assert.Equal(0.0, aggregate.GetProperty("bwt_max").GetProperty("worst").GetDouble());
            }
            else
            {
                // Reset prunes the dense weights with Di alone, so a stage depends on its dataset, not on the order:
                // the last stage of one order is the first stage of the other.
                var byOrder = runs.ToDictionary(r => string.Join('-', r.GetProperty("order").EnumerateArray().Select(e => e.GetString())), r => Matrix(r.GetProperty("perplexity")));
                var (fs, sf) = (byOrder["fiction-science"], byOrder["science-fiction"]);
                AssertClose(fs[0][0], sf[1][1]);
                AssertClose(fs[0][1], sf[1][0]);
            }
        }

        foreach (var file in new[] { "bench.md", "bench.bwt-wanda.png", "bench.bwt-magnitude.png", "bench.avg-ppl.png" })
        {
            Assert.True(File.Exists(Path.Combine(outDir, file)), file + " missing");
        }

        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G'];
        Assert.Equal(png, File.ReadAllBytes(Path.Combine(outDir, "bench.avg-ppl.png"))[..4]);

        // The comparison table on stdout: one row per method/strategy.
        foreach (var m in Methods)
        {
            foreach (var s in Strategies)
            {
                Assert.Contains($"| {m} | {s} |", result.Stdout);
            }
        }
    }

    [Theory]
    [InlineData("wanda,pruney", "reset", "fiction,science", "unknown method 'pruney'")]
    [InlineData("wanda", "reset,forget", "fiction,science", "unknown strategy 'forget'")]
    [InlineData("wanda", "reset", "fiction,nope", "unknown dataset 'nope'")]
    public void Bad_names_are_refused_before_anything_is_written(string methods, string strategies, string datasets, string reason)
    {
        using var dir = new TempDir();
        var outDir = dir.File("bench");

        var result = CopalCli.Run("bench", "--methods", methods, "--strategies", strategies, "--datasets", datasets, "--out", outDir);

        AssertOneLineRefusal(result, reason);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void A_non_empty_out_is_refused_without_force()
    {
        using var dir = new TempDir();
        var outDir = dir.File("bench");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "keep.txt"), "mine");

        var result = CopalCli.Run("bench", "--methods", "wanda", "--strategies", "reset", "--datasets", "fiction,science", "--out", outDir);

        AssertOneLineRefusal(result, "not empty");
        Assert.Equal([Path.Combine(outDir, "keep.txt")], Directory.GetFileSystemEntries(outDir));
    }

    private static void AssertOneLineRefusal(CliResult result, string reason)
    {
        Assert.NotEqual(0, result.ExitCode);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, result.Stderr);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(reason, lines[0]);
        Assert.Equal(string.Empty, result.Stdout.Trim());
    }

    private static double[][] Matrix(JsonElement e) =>
        e.EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();

    private static void AssertAggregate(List<double> perOrder, JsonElement aggregate)
    {
        AssertClose(perOrder.Average(), aggregate.GetProperty("mean").GetDouble());
        AssertClose(perOrder.Max(), aggregate.GetProperty("worst").GetDouble());
    }

    private static void AssertClose(double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-9 * Math.Max(1, Math.Abs(expected)), $"expected {expected}, got {actual}");
}
