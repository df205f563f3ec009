using System.Text.Json;
using Copal.Model;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// The same run on three real `copal-node` processes (`--nodes 3`) and in one process
/// (`--nodes 0`) gives bit-identical checkpoints and the same perplexities.
/// </summary>
public class ClusterEquivalenceTests
{
    public static TheoryData<string, string> Combinations() => new()
    {
        { "copal", "copal" },
        { "copal", "reset" },
        { "copal", "sequential" },
        { "wanda", "reset" },
        { "wanda", "copal" },
        { "sparsegpt", "reset" },
        { "magnitude", "sequential" },
    };

    [Theory]
    [MemberData(nameof(Combinations))]
    public void ThreeNodesGiveBitIdenticalCheckpointsAndPerplexities(string method, string strategy) =>
        AssertClusterEqualsInProcess(["--method", method, "--strategy", strategy, "--batch-size", "2"], nodes: 3);

    /// <summary>Llama 3 on the cluster path: rope_scaling, GQA, tied embeddings, BF16 and a 128k vocabulary on two nodes.</summary>
    [Fact]
    public void ALlama3ModelGivesBitIdenticalCheckpointsOnTwoNodes() =>
        AssertClusterEqualsInProcess(["--model", RepoPaths.TinyL3Model, "--batch-size", "3"], nodes: 2);

    private static void AssertClusterEqualsInProcess(string[] options, int nodes)
    {
        using var dir = new TempDir();
        string[] common = ["prune", .. options, "--datasets", "fiction,science", "--samples", "6", "--seqlen", "64", "--eval-windows", "3", "--node-timeout", "60"];
        var local = CopalCli.Run([.. common, "--out", dir.File("local")]);
        Assert.True(local.ExitCode == 0, local.Stderr);
        var cluster = CopalCli.Run([.. common, "--out", dir.File("cluster"), "--nodes", nodes.ToString()]);
        Assert.True(cluster.ExitCode == 0, cluster.Stderr);
        Assert.DoesNotContain("failed to find an associated singleton", cluster.Stdout + cluster.Stderr);

        var expected = Report(dir.File("local"));
        var actual = Report(dir.File("cluster"));
        Assert.Equal(expected.GetProperty("perplexity").GetRawText(), actual.GetProperty("perplexity").GetRawText());
        Assert.Equal(nodes, actual.GetProperty("cluster").GetProperty("nodes").GetInt32());
        foreach (var stage in new[] { "stage-1-fiction", "stage-2-science" })
        {
            var a = TensorDigests.Of(Path.Combine(dir.File("local"), stage));
            var b = TensorDigests.Of(Path.Combine(dir.File("cluster"), stage));
            Assert.NotEmpty(a);
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            Assert.All(a, e => Assert.True(e.Value == b[e.Key], $"{stage}: {e.Key} differs"));
        }
    }

    private static JsonElement Report(string outDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json"))).RootElement;
}
