using System.Diagnostics;
using Copal.Coordinator.Cli.Bench;
using Xunit;

namespace Copal.Tests;

/// <summary>What `copal bench perf` reads of its child processes from /proc.</summary>
public sealed class ProcFsTests
{
    [Fact]
    public void A_child_is_found_with_its_arguments_and_its_peak_memory()
    {
        using var child = Process.Start(new ProcessStartInfo("sleep", ["30", "1"]) { UseShellExecute = false })!;
        try
        {
            Assert.Contains(child.Id, ProcFs.Children(Environment.ProcessId));
            Assert.Null(ProcFs.Argument(child.Id, "--node-id"));
            Assert.Equal("1", ProcFs.Argument(child.Id, "30"));
            Assert.True(ProcFs.PeakRss(child.Id) > 0);
            Assert.True(ProcFs.PeakRss(Environment.ProcessId) > ProcFs.PeakRss(child.Id));
        }
        finally
        {
            child.Kill();
            child.WaitForExit();
        }

        // Gone: nothing to read, no exception.
        Assert.Equal(0, ProcFs.PeakRss(child.Id));
        Assert.DoesNotContain(child.Id, ProcFs.Children(Environment.ProcessId));
        Assert.Null(ProcFs.Argument(child.Id, "30"));
        Assert.True(ProcFs.MemAvailable() > 0);
    }
}
