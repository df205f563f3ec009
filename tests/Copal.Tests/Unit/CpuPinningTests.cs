using Copal.Coordinator.Cluster;
using Xunit;

namespace Copal.Tests;

public sealed class CpuPinningTests
{
    [Theory]
    [InlineData("0", new[] { 0 })]
    [InlineData("2-4,7", new[] { 2, 3, 4, 7 })]
    public void A_cpu_list_expands_to_its_cpus(string list, int[] cpus) => Assert.Equal(cpus, CpuPinning.TryExpand(list));

    [Theory]
    [InlineData("")]
    [InlineData("3-1")]
    [InlineData("a")]
    [InlineData("1-2-3")]
    [InlineData("-1")]
    public void Anything_else_is_not_a_cpu_list(string list) => Assert.Null(CpuPinning.TryExpand(list));

    [Fact]
    public void Node_cpus_name_one_entry_per_node()
    {
        Assert.Null(NodeCpus.Parse(null, 2));
        var cpus = NodeCpus.Parse("0,1-2", 2)!;
        Assert.Equal(["0", "1-2"], cpus.Entries);
        Assert.Equal(1, cpus.Fewest);
        Assert.Contains("one CPU or range", Assert.Throws<CopalInputException>(() => NodeCpus.Parse("0,1", 3)).Message);
        Assert.Throws<CopalInputException>(() => NodeCpus.Parse("0,x", 2));
    }

    [Fact]
    public void A_pinned_program_runs_on_its_cpus_only()
    {
        var start = CpuPinning.Start("cat", "0");
        start.ArgumentList.Add("/proc/self/status");
        start.RedirectStandardOutput = true;
        using var process = System.Diagnostics.Process.Start(start)!;
        var status = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Contains("Cpus_allowed_list:\t0\n", status);
        Assert.Contains(0, CpuPinning.Allowed());
    }
}
