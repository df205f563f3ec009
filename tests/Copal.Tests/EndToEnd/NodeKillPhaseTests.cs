using System.Diagnostics;
using Copal.Cluster;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// A node lost in each phase of a stage (COPAL_FAULT_KILL makes it SIGKILL itself there): the
/// run re-plans over the nodes left without waiting out --node-timeout, and ends bit-identical to
/// a run in one process. Two nodes die in each run, so each run covers two phases.
/// </summary>
public class NodeKillPhaseTests(NodeKillPhaseTests.CleanRun clean) : IClassFixture<NodeKillPhaseTests.CleanRun>
{
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(150);

    [Theory]
    [InlineData("node-1:evaluation:4,node-2:calibration:2")] // stage 1's evaluation, then stage 2's calibration
    [InlineData("node-2:pruning:1,node-1:writing:2")] // stage 1's pruning, then a shard written but not reported
    public async Task ANodeKilledInAnyPhaseLeavesTheResultUnchangedWithoutWaitingOutTheNodeTimeout(string kills)
    {
        using var dir = new TempDir();
        var run = dir.File("run");
        var clock = Stopwatch.StartNew();
        using var chaos = new ChaosHarness(
            new Dictionary<string, string> { [EnvironmentVariables.FaultKill] = kills },
            [.. ResumeTests.Run, "--out", run, "--nodes", "3", "--node-timeout", NodeTimeout.TotalSeconds.ToString(), "--replace-timeout", "5", "--log-level", "Debug"]);
        var exit = chaos.WaitForExit(TimeSpan.FromMinutes(8));
        var log = await chaos.Stderr;
        Assert.True(exit == 0, log);
        Assert.Equal(2, log.Split('\n').Count(l => l.Contains("kills itself entering", StringComparison.Ordinal)));
        Assert.DoesNotContain("within " + NodeTimeout, log);
        Assert.True(clock.Elapsed < NodeTimeout, $"the run took {clock.Elapsed}, more than one --node-timeout");
        ResumeTests.AssertSameCheckpoints(clean.Directory, run);
    }

    /// <summary>The reference: the same run in one process, once for the class.</summary>
    public sealed class CleanRun : IDisposable
    {
        private readonly TempDir dir = new();

        public CleanRun()
        {
            Directory = dir.File("clean");
            var result = CopalCli.Run([.. ResumeTests.Run, "--out", Directory]);
            Assert.True(result.ExitCode == 0, result.Stderr);
        }

        public string Directory { get; }

        public void Dispose() => dir.Dispose();
    }
}
