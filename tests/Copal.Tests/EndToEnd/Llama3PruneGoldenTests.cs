using Copal.Model;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>
/// tiny-l3's golden pruning runs: every perplexity of P within 1e-4 relative, and the final
/// stage's keep-masks of the full runs equal to the reference's on at least 99.9% of each linear.
/// </summary>
public class Llama3PruneGoldenTests
{
    public static TheoryData<string, int> Runs()
    {
        var data = new TheoryData<string, int>();
        foreach (var set in new[] { "quick_runs", "runs" })
        {
            for (var i = 0; i < Golden.TinyL3.GetProperty(set).GetArrayLength(); i++)
            {
                data.Add(set, i);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void ReproducesTheReferenceRun(string set, int index)
    {
        var golden = Golden.TinyL3.GetProperty(set)[index];
        using var dir = new TempDir();
        var run = PruneRunner.Run(PruneRunner.SettingsOf(golden), dir.Path, modelDirectory: RepoPaths.TinyL3Model);

        var expected = golden.GetProperty("P").EnumerateArray().Select(Golden.Doubles).ToArray();
        for (var i = 0; i < expected.Length; i++)
        {
            for (var k = 0; k < expected[i].Length; k++)
            {
                var actual = run.Matrix[i][k];
                Assert.True(Math.Abs(actual - expected[i][k]) <= 1e-4 * expected[i][k], $"P[{i}][{k}] = {actual}, reference {expected[i][k]}");
            }
        }

        if (!golden.TryGetProperty("masks", out var masks))
        {
            return;
        }

        using var stage = CheckpointReader.Open(run.Stages[^1].Checkpoint);
        foreach (var linear in masks.EnumerateObject())
        {
            using var weight = stage.Read(linear.Name, ScalarType.Float32);
            var kept = weight.ne(0).flatten().data<bool>().ToArray();
            var reference = Convert.FromBase64String(linear.Value.GetString()!);
            var equal = kept.Where((keep, i) => keep == (((reference[i >> 3] >> (i & 7)) & 1) == 1)).Count();
            Assert.True(equal >= 0.999 * kept.Length, $"{linear.Name}: {equal} of {kept.Length} keep bits equal the reference's");
        }

        Assert.Equal(14, masks.EnumerateObject().Count());
    }
}
