using System.Diagnostics;
using Copal.Cluster;
using Copal.Runs;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// A process frozen (SIGSTOP) for longer than the failure detector allows, then thawed (SIGCONT).
/// A frozen node is downed and replaced, and when it thaws it must not write into the run: every
/// stage directory holds only files its commit names. A frozen coordinator is downed by
/// the nodes; thawed, it stops the run, and resuming ends bit-identical.
/// </summary>
public class FreezeTests(NodeKillPhaseTests.CleanRun clean) : IClassFixture<NodeKillPhaseTests.CleanRun>
{
    /// <summary>Unreachable after the 10 s heartbeat pause, downed 5 s later.</summary>
    private static readonly Dictionary<string, string> QuickDowning = new() { [EnvironmentVariables.DownAfter] = "5" };

    private static readonly TimeSpan Frozen = TimeSpan.FromSeconds(25);

    [Fact]
    public async Task AFrozenNodeIsReplacedAndWritesNothingOnceThawed()
    {
        using var dir = new TempDir();
        var run = dir.File("run");
        using var chaos = new ChaosHarness(QuickDowning, [.. ResumeTests.Run, "--out", run, "--nodes", "3", "--node-timeout", "120", "--replace-timeout", "5", "--log-level", "Debug"]);
        ChaosHarness.WaitForJournal(run, "\"stage-started\",\"Stage\":2", TimeSpan.FromMinutes(3));
        var nodes = chaos.NodePids();
        Assert.Equal(3, nodes.Count);
        Signal("STOP", nodes[1]);
        Thread.Sleep(Frozen);
        Signal("CONT", nodes[1]);

        var exit = chaos.WaitForExit(TimeSpan.FromMinutes(6));
        Assert.True(exit == 0, await chaos.Stderr);
        ResumeTests.AssertSameCheckpoints(clean.Directory, run);
        AssertOnlyCommittedFiles(run);
    }

    [Fact]
    public void AFrozenCoordinatorIsDownedAndTheRunResumesIdentical()
    {
        using var dir = new TempDir();
        var run = dir.File("run");
        string[] command = [.. ResumeTests.Run, "--out", run, "--nodes", "3", "--node-timeout", "120", "--resume-existing"];
        using (var chaos = new ChaosHarness(QuickDowning, command))
        {
            ChaosHarness.WaitForJournal(run, "\"stage-started\",\"Stage\":2", TimeSpan.FromMinutes(3));
            Signal("STOP", chaos.Pid);
            Thread.Sleep(Frozen);
            Signal("CONT", chaos.Pid);
            Assert.NotEqual(0, chaos.WaitForExit(TimeSpan.FromMinutes(3)));
        }

        var resumed = CopalCli.Run(TimeSpan.FromMinutes(6), QuickDowning, command);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        ResumeTests.AssertSameCheckpoints(clean.Directory, run);
        AssertOnlyCommittedFiles(run);
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString()])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    private static void AssertOnlyCommittedFiles(string run)
    {
        var journal = RunJournal.Read(run);
        foreach (var stage in Directory.GetDirectories(run, "stage-*"))
        {
            var index = int.Parse(Path.GetFileName(stage).Split('-')[1]);
            var committed = journal.Last(JournalEntry.StageCommitted, index)?.Files?.Keys.ToHashSet() ?? [];
            Assert.All(Directory.GetFiles(stage).Select(Path.GetFileName), f => Assert.True(committed.Contains(f!), $"{stage} holds {f}, which its commit does not name"));
        }

        Assert.Empty(Directory.GetDirectories(run, ".stage-*"));
    }
}
