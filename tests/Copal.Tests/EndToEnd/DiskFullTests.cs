using Copal.Runs;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// The run directory's disk fills up during a stage: the run stops with one line and exit code 1,
/// commits no torn stage, and `copal resume` once space is freed ends bit-identical to a clean run.
/// On a cluster the node that hits it reports it, and the coordinator stops the same way.
/// </summary>
public class DiskFullTests
{
    /// <summary>Holds stage 1 of the bundled model (about 11 MB) and the run's files, not stage 2 besides.</summary>
    private const int SmallDiskMegabytes = 16;

    [SkippableTheory]
    [InlineData(0)]
    [InlineData(2)]
    public void AFullDiskStopsTheRunWithOneLineAndResumeFinishesItIdentically(int nodes)
    {
        using var dir = new TempDir();
        using var disk = Tmpfs.TryMount(dir.File("disk"), SmallDiskMegabytes, out var reason);
        Skip.If(disk is null, $"cannot mount a tmpfs here ({reason})");
        var clean = CopalCli.Run([.. ResumeTests.Run, "--out", dir.File("clean")]);
        Assert.True(clean.ExitCode == 0, clean.Stderr);

        var run = Path.Combine(dir.File("disk"), "run");
        var full = CopalCli.Run([.. ResumeTests.Run, "--out", run, "--nodes", nodes.ToString()]);

        Assert.Equal(1, full.ExitCode);
        var lines = full.Stderr.Split('\n');
        var error = Assert.Single(lines, l => l.Contains("no space left", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(run, error);
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.DoesNotContain("Exception", full.Stderr);

        // Stage 1 fitted and is committed; stage 2 did not, and never got its final name.
        var journal = File.ReadAllText(Path.Combine(run, RunJournal.FileName));
        Assert.Contains("\"stage-committed\",\"Stage\":1", journal);
        Assert.DoesNotContain("\"stage-committed\",\"Stage\":2", journal);
        Assert.True(Directory.Exists(Path.Combine(run, "stage-1-fiction")));
        Assert.False(Directory.Exists(Path.Combine(run, "stage-2-science")), "a stage that did not fit was committed");

        disk!.Resize(64);
        var resumed = CopalCli.Run("resume", run);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("Stage 1 (fiction) is committed and verified", resumed.Stderr);
        ResumeTests.AssertSameCheckpoints(dir.File("clean"), run);
    }
}
