using System.Text.Json;
using Xunit;

namespace Copal.Tests;

public class ClusterStreamingTests
{
    /// <summary>
    /// More than 1 GB of activations crosses the data path between three real node processes
    /// while the cluster keeps every member reachable (heartbeats never wait behind bulk data).
    /// </summary>
    [Fact]
    public void GigabytesOfActivationsLeaveEveryMemberReachable()
    {
        using var dir = new TempDir();
        var run = CopalCli.Run(TimeSpan.FromMinutes(8), "prune", "--nodes", "3", "--samples", "1024", "--eval-windows", "1", "--out", dir.File("out"), "--node-timeout", "300");
        Assert.True(run.ExitCode == 0, run.Stderr);

        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("out"), "report.json")));
        var cluster = report.RootElement.GetProperty("cluster");
        Assert.True(cluster.GetProperty("bytes_streamed").GetInt64() >= 1_000_000_000, cluster.GetRawText());
        Assert.Equal(0, cluster.GetProperty("unreachable_events").GetInt32());
        Assert.All(cluster.GetProperty("node_activity").EnumerateArray(), a => Assert.True(a.GetProperty("busy_seconds").GetDouble() > 0));
    }
}
