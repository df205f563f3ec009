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
    /// <summary>
    /// Every full run, and each quick run of a method, strategy and mask that no full run covers:
    /// a 128k vocabulary makes each evaluation costly, and a quick run of a full run's settings adds nothing.
    /// </summary>
    public static TheoryData<string, int> Runs()
    {
        static string Kind(System.Text.Json.JsonElement run) => string.Join("/", new[] { "metric", "strategy", "propagate", "nm", "group" }.Select(k => run.TryGetProperty(k, out var v) ? v.ToString() : ""));
        var full = Golden.TinyL3.GetProperty("runs").EnumerateArray().ToList();
        var data = new TheoryData<string, int>();
        for (var i = 0; i < full.Count; i++)
        {
            data.Add("runs", i);
        }

        var quick = Golden.TinyL3.GetProperty("quick_runs").EnumerateArray().ToList();
        for (var i = 0; i < quick.Count; i++)
        {
            if (full.All(run => Kind(run) != Kind(quick[i])))
            {
                data.Add("quick_runs", i);
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
