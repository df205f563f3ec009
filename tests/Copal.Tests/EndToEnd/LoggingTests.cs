using Copal.Cluster;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// The log settings a pod's ConfigMap gives both processes: COPAL_LOG_LEVEL (overridden by
/// --log-level) and COPAL_LOG_FORMAT; a value neither process knows is refused, not ignored.
/// Likewise a --log-file that cannot be written, and what both processes print for bad input.
/// </summary>
public class LoggingTests
{
    private static readonly string[] Eval = ["eval", "--datasets", "fiction", "--eval-windows", "1"];

    [Fact]
    public void TheCoordinatorTakesItsLevelFromTheEnvironmentUnlessTheOptionIsGiven()
    {
        var warning = new Dictionary<string, string> { [EnvironmentVariables.LogLevel] = "warning" };

        var quiet = CopalCli.Run(TimeSpan.FromMinutes(2), warning, Eval);
        var told = CopalCli.Run(TimeSpan.FromMinutes(2), warning, ["--log-level", "Information", .. Eval]);

        Assert.True(quiet.ExitCode == 0, quiet.Stderr);
        Assert.DoesNotContain(" INF]", quiet.Stderr);
        Assert.True(told.ExitCode == 0, told.Stderr);
        Assert.Contains(" INF] eval fiction: done", told.Stderr);
    }

    [Theory]
    [InlineData("COPAL_LOG_LEVEL", "Loud", "'Loud' is not a log level")]
    [InlineData("COPAL_LOG_FORMAT", "xml", "xml: expected json or text")]
    public void BadLogSettingsAreRefusedByBothProcesses(string variable, string value, string message)
    {
        var environment = new Dictionary<string, string> { [variable] = value };

        var coordinator = CopalCli.Run(TimeSpan.FromMinutes(1), environment, Eval);

        Assert.Equal(2, coordinator.ExitCode);
        Assert.Contains(variable, coordinator.Stderr);
        Assert.Contains(message, coordinator.Stderr);

        var node = CopalCli.RunNode(TimeSpan.FromMinutes(1), environment, "--seeds", $"akka.tcp://copal@127.0.0.1:{TestPorts.Free()}");

        Assert.Equal(2, node.ExitCode);
        Assert.Contains(variable, node.Stderr);
        Assert.Contains(message, node.Stderr);
    }

    public static TheoryData<string, string> BadLogFiles() => UnwritablePaths.Cases("copal.log");

    /// <summary>Before the fix Serilog's file sink dropped every event of such a file and the run went on.</summary>
    [Theory]
    [MemberData(nameof(BadLogFiles))]
    public void AnUnwritableLogFileIsRefusedBeforeAnythingIsWritten(string logFile, string mention)
    {
        using var dir = new TempDir();
        var outDir = dir.File("out");
        var path = UnwritablePaths.Under(dir, logFile);

        var run = CopalCli.Run(TimeSpan.FromMinutes(2), "--log-file", path, "prune", "--samples", "2", "--seqlen", "64", "--eval-windows", "1", "--datasets", "fiction", "--out", outDir);

        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}: {run.Stderr}");
        Assert.StartsWith($"error: --log-file {path}: ", run.Stderr.Trim());
        Assert.DoesNotContain('\n', run.Stderr.Trim());
        Assert.Contains(mention, run.Stderr);
        Assert.False(Directory.Exists(outDir), "the output directory was created");
    }

    /// <summary>Every command-line error on one line, as copal prints them; before the fix the node printed the first alone.</summary>
    [Fact]
    public void TheNodeReportsEveryCommandLineErrorOnOneLine()
    {
        var node = CopalCli.RunNode(TimeSpan.FromMinutes(1), new Dictionary<string, string>(), "--seeds", $"akka.tcp://copal@127.0.0.1:{TestPorts.Free()}", "--port", "x", "--data-port", "y");

        Assert.Equal(2, node.ExitCode);
        var reason = node.Stderr.Trim();
        Assert.DoesNotContain('\n', reason);
        Assert.StartsWith("error: ", reason);
        Assert.Contains("'x' for option '--port'", reason);
        Assert.Contains("'y' for option '--data-port'", reason);
    }
}
