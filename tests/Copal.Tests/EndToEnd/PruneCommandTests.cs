using System.Text.Json;
using Xunit;

namespace Copal.Tests;

public class PruneCommandTests
{
    private static readonly string[] Quick = ["prune", "--samples", "4", "--seqlen", "64", "--eval-windows", "3"];

    [Fact]
    public void StageCheckpointsReevaluateToTheReportedPerplexities()
    {
        using var dir = new TempDir();
        var outDir = dir.File("out");
        var run = CopalCli.Run([.. Quick, "--datasets", "fiction,science", "--out", outDir]);
        Assert.True(run.ExitCode == 0, run.Stderr);

        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
        var root = report.RootElement;
        foreach (var key in new[] { "model", "method", "strategy", "sparsity", "pattern", "group", "propagate", "samples", "seqlen", "datasets", "dense_perplexity", "perplexity", "bwt_mean", "bwt_max", "avg_ppl", "achieved_sparsity", "stages" })
        {
            Assert.True(root.TryGetProperty(key, out _), $"report lacks {key}");
        }

        Assert.Equal(0.5, root.GetProperty("achieved_sparsity").GetDouble());
        Assert.Equal("float32", root.GetProperty("importance_precision").GetString());
        Assert.True(File.Exists(Path.Combine(outDir, "report.md")));
        Assert.True(File.Exists(Path.Combine(outDir, "report.perplexity.png")));

        var stages = root.GetProperty("stages").EnumerateArray().ToList();
        for (var i = 0; i < stages.Count; i++)
        {
            var checkpoint = stages[i].GetProperty("checkpoint").GetString()!;
            var evalReport = dir.File($"eval-{i}.json");
            var eval = CopalCli.Run("eval", "--model", checkpoint, "--datasets", "fiction,science", "--seqlen", "64", "--eval-windows", "3", "--report", evalReport);
            Assert.True(eval.ExitCode == 0, eval.Stderr);
            using var evalJson = JsonDocument.Parse(File.ReadAllText(evalReport));
            var reported = root.GetProperty("perplexity")[i];
            Assert.Equal(reported[0].GetDouble(), evalJson.RootElement.GetProperty("perplexity").GetProperty("fiction").GetDouble(), 1e-9);
            Assert.Equal(reported[1].GetDouble(), evalJson.RootElement.GetProperty("perplexity").GetProperty("science").GetDouble(), 1e-9);
        }
    }

    public static TheoryData<string[], string> BadInputs() => new()
    {
        { ["--sparsity", "1.5"], "--sparsity" },
        { ["--sparsity", "0"], "--sparsity" },
        { ["--pattern", "4:4"], "N must be" },
        { ["--pattern", "3:7"], "not divisible" },
        { ["--datasets", "fiction,klingon"], "klingon" },
        { ["--method", "obs"], "unknown method" },
        { ["--strategy", "forget"], "unknown strategy" },
        { ["--seqlen", "300"], "max_position_embeddings" },
        { ["--importance-precision", "fp8"], "--importance-precision" },

        // Before the fix: sampled for minutes, then an OverflowException.
        { ["--samples", "2000000000"], "--samples 2000000000 of --seqlen 64 tokens make 128000000000 token ids, more than one array holds (2147483591)" },

        // Before the fix: the group was silently ignored (N:M chooses within a row).
        { ["--pattern", "2:4", "--group", "matrix"], "--group matrix does not apply to --pattern 2:4" },
        { ["--method", "magnitude", "--pattern", "2:4", "--group", "matrix"], "--group matrix does not apply to --pattern 2:4" },

        // Before the fix: ignored by the relative perturbation, whatever the value.
        { ["--epsilon", "-1"], "--epsilon applies only to --perturbation gaussian, got --epsilon -1 with relative" },
        { ["--epsilon", "NaN"], "--epsilon applies only to --perturbation gaussian, got --epsilon NaN with relative" },
        { ["--perturbation", "relative", "--epsilon", "0.01"], "--epsilon applies only to --perturbation gaussian" },
        { ["--perturbation", "gaussian", "--epsilon", "NaN"], "--epsilon must be positive and finite, got NaN" },

        // Before the fix: a stack trace (infinity cannot be written to run.json).
        { ["--perturbation", "gaussian", "--epsilon", "Infinity"], "--epsilon must be positive and finite, got Infinity" },

        // Before the fix: names became paths, e.g. OUT/stage-1-sub/fiction, or OUT/stage-1-.. with ../fiction.
        { ["--datasets", "sub/fiction"], "--datasets: 'sub/fiction' is not a dataset name" },
        { ["--datasets", "fiction,../fiction"], "--datasets: '../fiction' is not a dataset name" },
        { ["--datasets", ".fiction"], "--datasets: '.fiction' is not a dataset name" },
        { ["--datasets", "fic tion"], "--datasets: 'fic tion' is not a dataset name" },
        { ["--store", "all"], "--store must be full or masks, got 'all'" },

        // Computed in bfloat16, tiny-mix's F32 weights would be written back changed.
        { ["--store", "masks", "--dtype", "bfloat16"], "--store masks: the weights are stored as F32, which --dtype bfloat16 does not hold exactly" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputFailsWithOneLineAndWritesNothing(string[] args, string mention)
    {
        using var dir = new TempDir();
        var outDir = dir.File("out");

        // The case's own options replace Quick's.
        string[] quick = ["prune", .. Quick.Skip(1).Chunk(2).Where(pair => !args.Contains(pair[0])).SelectMany(pair => pair)];
        var run = CopalCli.Run([.. quick, .. args, "--out", outDir]);
        AssertRefused(run, mention);
        Assert.False(Directory.Exists(outDir), "the output directory was created");
    }

    /// <summary>What the refusals above leave alone: the bundled names, and magnitude's own matrix group under a pattern.</summary>
    [Fact]
    public void MagnitudeTakesAPatternWithItsDefaultGroup()
    {
        using var dir = new TempDir();
        var outDir = dir.File("out");
        var run = CopalCli.Run([.. Quick, "--method", "magnitude", "--pattern", "2:4", "--datasets", "fiction,science,speech,news", "--out", outDir]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.True(Directory.Exists(Path.Combine(outDir, "stage-4-news")));
    }

    /// <summary>An --out that cannot be made: empty, under a file, or where no one, root included, can create a folder.</summary>
    [Theory]
    [InlineData("", "--out must name a directory")]
    [InlineData("file/out", "cannot create it")]
    [InlineData("/proc/copal-out", "cannot create it")]
    public void AnOutputThatCannotBeCreatedIsRefused(string outDir, string mention)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("file"), "not a folder");
        var run = CopalCli.Run([.. Quick, "--datasets", "fiction", "--out", outDir.Length == 0 || Path.IsPathRooted(outDir) ? outDir : Path.Combine(dir.Path, outDir)]);
        AssertRefused(run, mention);
        Assert.Equal(["file"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    public static TheoryData<string, string> BadReportPaths() => UnwritablePaths.Cases("r.json");

    [Theory]
    [MemberData(nameof(BadReportPaths))]
    public void AnUnwritableReportPathIsRefusedBeforeAnythingIsWritten(string report, string mention)
    {
        using var dir = new TempDir();
        var outDir = dir.File("out");
        var run = CopalCli.Run([.. Quick, "--datasets", "fiction", "--out", outDir, "--report", UnwritablePaths.Under(dir, report)]);
        AssertRefused(run, mention);
        Assert.Contains("--report", run.Stderr);
        Assert.Equal(2, run.ExitCode);
        Assert.False(Directory.Exists(outDir), "the output directory was created");
    }

    [Fact]
    public void TooFewCalibrationTokensIsRefused()
    {
        using var dir = new TempDir();
        var data = dir.File("data");
        Directory.CreateDirectory(data);
        File.WriteAllText(Path.Combine(data, "tiny.calib.txt"), "Only a few words here.");
        File.WriteAllText(Path.Combine(data, "tiny.test.txt"), File.ReadAllText(Path.Combine(RepoPaths.Corpora, "fiction.test.txt")));
        var outDir = dir.File("out");
        var run = CopalCli.Run([.. Quick, "--data", data, "--datasets", "tiny", "--out", outDir]);
        AssertRefused(run, "fewer than one sample");
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void ExistingNonEmptyOutputNeedsForce()
    {
        using var dir = new TempDir();
        var outDir = dir.File("out");
        Directory.CreateDirectory(outDir);
        var keep = Path.Combine(outDir, "keep.txt");
        File.WriteAllText(keep, "mine");
        var run = CopalCli.Run([.. Quick, "--datasets", "fiction", "--out", outDir]);
        AssertRefused(run, "--force");
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(outDir).Select(Path.GetFileName));

        var forced = CopalCli.Run([.. Quick, "--datasets", "fiction", "--out", outDir, "--force"]);
        Assert.True(forced.ExitCode == 0, forced.Stderr);
        Assert.True(Directory.Exists(Path.Combine(outDir, "stage-1-fiction")));
    }

    [Fact]
    public void LeftoversOfInterruptedWritesDoNotMakeTheOutputNonEmpty()
    {
        // A coordinator killed while writing run.json leaves its temporary file; one killed while
        // building a stage leaves the build directory. Its pod restarts with the same command.
        using var dir = new TempDir();
        var outDir = dir.File("out");
        var build = Path.Combine(outDir, ".stage-1-fiction.partial");
        Directory.CreateDirectory(build);
        File.WriteAllText(Path.Combine(build, ".head.safetensors.tmp-4242"), "half a shard");
        File.WriteAllText(Path.Combine(outDir, ".run.json.tmp-4242"), "{\"ModelDirectory\":");
        var run = CopalCli.Run([.. Quick, "--datasets", "fiction", "--out", outDir, "--resume-existing"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.False(File.Exists(Path.Combine(outDir, ".run.json.tmp-4242")));
        Assert.False(Directory.Exists(build));
        Assert.True(File.Exists(Path.Combine(outDir, "run.json")));
        Assert.True(Directory.Exists(Path.Combine(outDir, "stage-1-fiction")));
    }

    [Theory]
    [InlineData("notes.txt")]
    [InlineData("run.json.tmp-4242")]
    [InlineData(".run.json.tmp-42a")]
    [InlineData(".stage-1-fiction.partial")]
    public void AnythingElseNextToLeftoversStillNeedsForce(string foreign)
    {
        using var dir = new TempDir();
        var outDir = dir.File("out");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, ".run.json.tmp-4242"), "{");
        File.WriteAllText(Path.Combine(outDir, foreign), "not Copal's");
        var run = CopalCli.Run([.. Quick, "--datasets", "fiction", "--out", outDir, "--resume-existing"]);
        AssertRefused(run, "--force");
        Assert.Equal([".run.json.tmp-4242", foreign], Directory.GetFileSystemEntries(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    private static void AssertRefused(CliResult run, string mention)
    {
        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}: {run.Stderr}");
        var reason = run.Stderr.Trim();
        Assert.DoesNotContain('\n', reason);
        Assert.StartsWith("error: ", reason);
        Assert.Contains(mention, reason);
    }
}
