using System.Diagnostics;
using Copal.Cluster;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// The log settings a pod's ConfigMap gives both processes: COPAL_LOG_LEVEL (overridden by
/// --log-level) and COPAL_LOG_FORMAT; a value neither process knows is refused, not ignored.
/// Likewise a --log-file that cannot be written.
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
    public async Task BadLogSettingsAreRefusedByBothProcesses(string variable, string value, string message)
    {
        var environment = new Dictionary<string, string> { [variable] = value };

        var coordinator = CopalCli.Run(TimeSpan.FromMinutes(1), environment, Eval);

        Assert.Equal(2, coordinator.ExitCode);
        Assert.Contains(variable, coordinator.Stderr);
        Assert.Contains(message, coordinator.Stderr);

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "copal-node.dll"));
        start.ArgumentList.Add("--seeds");
        start.ArgumentList.Add($"akka.tcp://copal@127.0.0.1:{TestPorts.Free()}");
        start.Environment[variable] = value;
        using var node = Process.Start(start)!;
        var stderr = node.StandardError.ReadToEndAsync();
        _ = node.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await node.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            node.Kill(entireProcessTree: true);
            Assert.Fail($"copal-node with {variable}={value} kept running");
        }

        Assert.Equal(2, node.ExitCode);
        var errors = await stderr;
        Assert.Contains(variable, errors);
        Assert.Contains(message, errors);
    }

    /// <summary>
    /// A --log-file under the test's folder (which holds a folder "folder" and a file "file"), or
    /// absolute, and what the refusal says. Before the fix Serilog's file sink dropped every event
    /// of such a file and the run went on.
    /// </summary>
    [Theory]
    [InlineData("folder", "is a directory")]
    [InlineData("file/copal.log", "does not exist")]
    [InlineData("/proc/copal.log", "cannot write in /proc")]
    public void AnUnwritableLogFileIsRefusedBeforeAnythingIsWritten(string logFile, string mention)
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("folder"));
        File.WriteAllText(dir.File("file"), "not a folder");
        var outDir = dir.File("out");
        var path = Path.Combine(dir.Path, logFile);

        var run = CopalCli.Run(TimeSpan.FromMinutes(2), "--log-file", path, "prune", "--samples", "2", "--seqlen", "64", "--eval-windows", "1", "--datasets", "fiction", "--out", outDir);

        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}: {run.Stderr}");
        Assert.StartsWith($"error: --log-file {path}: ", run.Stderr.Trim());
        Assert.DoesNotContain('\n', run.Stderr.Trim());
        Assert.Contains(mention, run.Stderr);
        Assert.False(Directory.Exists(outDir), "the output directory was created");
    }
}
