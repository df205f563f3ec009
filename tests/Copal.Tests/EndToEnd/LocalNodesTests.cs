using System.Diagnostics;
using Copal.Coordinator.Cluster;
using Xunit;

namespace Copal.Tests;

public sealed class LocalNodesTests
{
    /// <summary>
    /// A local node starts with the malloc settings unless the user set their own. (glibc rewrites
    /// the variable in a running process's memory, so /proc/PID/environ cannot show it.)
    /// </summary>
    [Fact]
    public void NodeProcessesGetTheMallocTunables()
    {
        var start = LocalNodes.WithNodeEnvironment(new ProcessStartInfo("dotnet"));
        var expected = Environment.GetEnvironmentVariable("GLIBC_TUNABLES") ?? LocalNodes.MallocTunables;
        Assert.Equal(expected, start.Environment["GLIBC_TUNABLES"]);
        Assert.Equal(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), start.Environment[Copal.Cluster.EnvironmentVariables.ParentPid]);
    }
}
