using Copal.Model;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>
/// tiny-l3's golden pruning runs: every perplexity of P within 1e-4 relative for each quick run,
/// and the final stage's keep-masks of the full runs equal to the reference's on at least 99.9% of
/// each linear.
/// </summary>
/// <remarks>
/// A 128k vocabulary makes evaluation nearly all of a run's time, and evaluation does not change
/// what a stage keeps: the full runs (128 samples) are checked by their masks with one evaluation
/// window, the quick runs (16 samples, 20 windows) by their perplexities. Evaluation over every
/// window is checked on the dense model by <see cref="Llama3GoldenTests"/>.
/// </remarks>
public class Llama3PruneGoldenTests
{
    public static TheoryData<int> QuickRuns() => Indices("quick_runs");

    public static TheoryData<int> FullRuns() => Indices("runs");

    [Theory]
    [MemberData(nameof(QuickRuns))]
    public void ReproducesTheReferencePerplexities(int index)
    {
        var golden = Golden.TinyL3.GetProperty("quick_runs")[index];
        using var dir = new TempDir();
        var run = PruneRunner.Run(PruneRunner.SettingsOf(golden), dir.Path, modelDirectory: RepoPaths.TinyL3Model);

        var expected = golden.GetProperty("P").EnumerateArray().Select(Golden.Doubles).ToArray();
        Assert.Equal(expected.Length, run.Matrix.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            for (var k = 0; k < expected[i].Length; k++)
            {
                var actual = run.Matrix[i][k];
                Assert.True(Math.Abs(actual - expected[i][k]) <= 1e-4 * expected[i][k], $"P[{i}][{k}] = {actual}, reference {expected[i][k]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(FullRuns))]
    public void ReproducesTheReferenceKeepMasks(int index)
    {
        var golden = Golden.TinyL3.GetProperty("runs")[index];
        using var dir = new TempDir();
        var run = PruneRunner.Run(PruneRunner.SettingsOf(golden) with { EvalWindows = 1 }, dir.Path, modelDirectory: RepoPaths.TinyL3Model);

        var masks = golden.GetProperty("masks");
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

    private static TheoryData<int> Indices(string set)
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Golden.TinyL3.GetProperty(set).GetArrayLength(); i++)
        {
            data.Add(i);
        }

        return data;
    }
}
