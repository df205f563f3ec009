using System.Text.Json;
using Copal.Model;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// `--store masks`: stages read, evaluate and export as the stages `--store full` writes, bit for
/// bit, at a fraction of the bytes; a base that changed since is refused.
/// </summary>
public class MaskedStageTests
{
    private static readonly string[] Quick = ["prune", "--samples", "4", "--seqlen", "64", "--eval-windows", "2"];

    private static readonly string[] Stages = ["stage-1-fiction", "stage-2-science"];

    /// <summary>Sequential: stage 2 prunes stage 1 as read through its masks.</summary>
    [Fact]
    public void MaskedStagesEvaluateAndExportAsTheFullStages()
    {
        using var dir = new TempDir();
        string[] run = [.. Quick, "--method", "copal", "--strategy", "sequential", "--datasets", "fiction,science"];
        var full = CopalCli.Run([.. run, "--out", dir.File("full")]);
        Assert.True(full.ExitCode == 0, full.Stderr);
        var masks = CopalCli.Run([.. run, "--out", dir.File("masks"), "--store", "masks"]);
        Assert.True(masks.ExitCode == 0, masks.Stderr);
        Assert.Equal(Perplexities(dir.File("full")), Perplexities(dir.File("masks")));

        foreach (var stage in Stages)
        {
            var masked = Path.Combine(dir.File("masks"), stage);
            Assert.True(File.Exists(Path.Combine(masked, MaskedCheckpoint.FileName)));
            Assert.False(File.Exists(Path.Combine(masked, CheckpointReader.IndexFile)));

            // tiny-mix is F32: one bit of mask per 32 bits of weight.
            var maskBytes = new FileInfo(Path.Combine(masked, "layers-00000-00003.safetensors")).Length;
            var weightBytes = new FileInfo(Path.Combine(dir.File("full"), stage, "layers-00000-00003.safetensors")).Length;
            Assert.True(maskBytes <= 0.04 * weightBytes, $"{stage}: masks {maskBytes} bytes, weights {weightBytes}");

            var exported = dir.File("export-" + stage);

            // What an export killed midway left: the next export to the same place removes it.
            var leftover = Directory.CreateDirectory(dir.File($".export-{stage}.partial-0badf00d")).FullName;
            var export = CopalCli.Run("export", masked, "--out", exported);
            Assert.True(export.ExitCode == 0, export.Stderr);
            Assert.False(Directory.Exists(leftover));
            Assert.Equal(FileDigests(Path.Combine(dir.File("full"), stage)), FileDigests(exported));
            var expected = TensorDigests.Of(Path.Combine(dir.File("full"), stage));
            Assert.Equal(expected, TensorDigests.Of(exported));
        }

        var report = dir.File("eval.json");
        var eval = CopalCli.Run("eval", "--model", Path.Combine(dir.File("masks"), Stages[1]), "--datasets", "fiction,science", "--seqlen", "64", "--eval-windows", "2", "--report", report);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        using var evaluated = JsonDocument.Parse(File.ReadAllText(report));
        var perplexity = evaluated.RootElement.GetProperty("perplexity");
        double[] reevaluated = [perplexity.GetProperty("fiction").GetDouble(), perplexity.GetProperty("science").GetDouble()];
        Assert.Equal(Perplexities(dir.File("masks"))[1], reevaluated);
    }

    /// <summary>SparseGPT changes the weights it keeps: no mask holds them.</summary>
    [Fact]
    public void SparseGptStagesKeepTheirWeights()
    {
        using var dir = new TempDir();
        var run = CopalCli.Run([.. Quick, "--method", "sparsegpt", "--datasets", "fiction", "--store", "masks", "--out", dir.File("run")]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var stage = Path.Combine(dir.File("run"), "stage-1-fiction");
        Assert.False(File.Exists(Path.Combine(stage, MaskedCheckpoint.FileName)));
        Assert.True(File.Exists(Path.Combine(stage, CheckpointReader.IndexFile)));
        using var layers = SafetensorsFile.Open(Path.Combine(stage, "layers-00000-00003.safetensors"));
        Assert.Equal(StorageType.F32, layers.Entry("model.layers.0.mlp.down_proj.weight").DType);
    }

    [Fact]
    public void ABaseChangedSinceIsRefusedWithOneLine()
    {
        using var dir = new TempDir();
        var model = dir.File("model");
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(RepoPaths.TinyModel))
        {
            File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        }

        var run = CopalCli.Run([.. Quick, "--model", model, "--method", "wanda", "--datasets", "fiction", "--store", "masks", "--out", dir.File("run")]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var stage = Path.Combine(dir.File("run"), "stage-1-fiction");

        AssertRefused(CopalCli.Run("export", stage, "--out", stage), "exists");
        AssertRefused(CopalCli.Run("export", model, "--out", dir.File("x")), "is not a stage directory");

        // The last byte of the data section: the file still parses, its sha256 differs.
        using (var weights = File.OpenWrite(Path.Combine(model, CheckpointReader.SingleFile)))
        {
            weights.Seek(-1, SeekOrigin.End);
            weights.WriteByte(0x42);
        }

        AssertRefused(CopalCli.Run("eval", "--model", stage, "--datasets", "fiction", "--seqlen", "64", "--eval-windows", "2"), "has changed since");
        AssertRefused(CopalCli.Run("export", stage, "--out", dir.File("x")), "has changed since");
        Assert.Equal(["model", "run"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
        var status = CopalCli.Run("status", dir.File("run"));
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.Contains("damaged", status.Stdout);
    }

    private static void AssertRefused(CliResult result, string mention)
    {
        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(mention, line);
    }

    private static double[][] Perplexities(string outDir)
    {
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
        return report.RootElement.GetProperty("perplexity").EnumerateArray().Select(s => s.EnumerateArray().Select(p => p.GetDouble()).ToArray()).ToArray();
    }

    private static Dictionary<string, string> FileDigests(string directory) =>
        Directory.GetFiles(directory).ToDictionary(f => Path.GetFileName(f), FileDigest.Sha256);
}
