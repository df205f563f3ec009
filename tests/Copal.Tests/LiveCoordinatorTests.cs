using System.Diagnostics;
using System.Text.Json;
using Copal.Cluster;
using Copal.Coordinator.Monitoring;
using Copal.Observability;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// A coordinator as it runs in a pod: it answers /status and /metrics during its run, stays up
/// after it (--linger), shows the run to `copal status --url`, and stops cleanly on SIGTERM.
/// </summary>
public class LiveCoordinatorTests
{
    [Fact]
    public async Task ACoordinatorServesItsRunLiveAndLingersUntilStopped()
    {
        using var dir = new TempDir();
        var port = TestPorts.Free();
        using var coordinator = new ChaosHarness([.. ResumeTests.Run, "--out", dir.File("run"), "--nodes", "2", "--node-timeout", "60", "--metrics-port", port.ToString(), "--linger"]);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };

        // While it runs: the plan over the two nodes, every layer held by exactly one.
        var live = await PollAsync(http, s => s.Live is { Nodes.Count: 2 }, TimeSpan.FromMinutes(3));
        var layers = live.Live!.Nodes.OrderBy(n => n.FirstLayer).SelectMany(n => Enumerable.Range(n.FirstLayer, n.LastLayer - n.FirstLayer + 1)).ToList();
        Assert.Equal(Enumerable.Range(0, 4), layers);
        Assert.Equal(["fiction", "science", "speech"], live.Datasets);

        ChaosHarness.WaitForJournal(dir.File("run"), "\"run-completed\"", TimeSpan.FromMinutes(5));
        var done = await PollAsync(http, s => s.Stages.All(st => st.State == "done"), TimeSpan.FromSeconds(30));
        Assert.Equal(3, done.Live!.Stage);

        // Work was timed by phase and counted.
        var metrics = await http.GetStringAsync(HealthServer.MetricsPath);
        Assert.Equal(3, Sample(metrics, CopalMetrics.StagesCompletedName));
        Assert.Equal(1, Sample(metrics, CopalMetrics.StageProgressName));
        Assert.True(Sample(metrics, CopalMetrics.TokensPerSecondName) > 0);

        // The command-line view of the live run.
        var status = CopalCli.Run("status", "--url", $"http://127.0.0.1:{port}");
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.Equal(3, status.Stdout.Split('\n').Count(l => l.Contains("│ done", StringComparison.Ordinal)));
        Assert.Contains("node-0", status.Stdout);
        Assert.Contains("node-1", status.Stdout);

        // Finished, it stays up (a StatefulSet would otherwise restart it), until SIGTERM.
        await Task.Delay(1000);
        var nodes = coordinator.NodePids();
        Assert.Equal(2, nodes.Count);
        using (var term = Process.Start("kill", ["-TERM", coordinator.Pid.ToString()]))
        {
            await term.WaitForExitAsync();
        }

        Assert.Equal(0, coordinator.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.True(ChaosHarness.WaitUntilGone(nodes, TimeSpan.FromSeconds(30)), "node processes outlived the coordinator");
    }

    [Fact]
    public void StatusWithoutARunOrACoordinatorIsAnError()
    {
        var none = CopalCli.Run("status");
        Assert.Equal(2, none.ExitCode);
        Assert.Contains(EnvironmentVariables.CoordinatorUrl, none.Stderr);

        var unreachable = CopalCli.Run("status", "--url", $"http://127.0.0.1:{TestPorts.Free()}", "--timeout", "2");
        Assert.Equal(2, unreachable.ExitCode);
        Assert.Contains("/status", unreachable.Stderr);
    }

    private static async Task<RunStatus> PollAsync(HttpClient http, Func<RunStatus, bool> until, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        RunStatus? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var response = await http.GetAsync(HealthServer.StatusPath);
                if (response.IsSuccessStatusCode)
                {
                    last = WireJson.Deserialize<RunStatus>(await response.Content.ReadAsStringAsync());
                    if (until(last))
                    {
                        return last;
                    }
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException("the coordinator's /status never showed what was awaited; last: " + (last is null ? "none" : JsonSerializer.Serialize(last)));
    }

    /// <summary>The value of an unlabelled series in a Prometheus text scrape.</summary>
    private static double Sample(string scrape, string name)
    {
        var line = scrape.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return double.Parse(line[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }
}
