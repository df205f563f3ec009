using System.Diagnostics;
using System.Net;
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
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(HealthServer.ReadyPath)).StatusCode);

        ChaosHarness.WaitForJournal(dir.File("run"), "\"run-completed\"", TimeSpan.FromMinutes(5));
        var done = await PollAsync(http, s => s.Stages.All(st => st.State == "done"), TimeSpan.FromSeconds(30));
        Assert.Equal(3, done.Live!.Stage);

        // Bytes written per stage: the last stage keeps every file it wrote (earlier ones drop their accumulator).
        Assert.All(done.Stages, st => Assert.True(st.BytesWritten > 0));
        Assert.Equal(Directory.GetFiles(Path.Combine(dir.File("run"), "stage-3-speech")).Sum(f => new FileInfo(f).Length), done.Stages[2].BytesWritten);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(HealthServer.ReadyPath)).StatusCode);

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

    /// <summary>
    /// A coordinator pod whose seed never answers: alive but not ready (it is no Up member), stopped
    /// at once by SIGTERM, and with COPAL_LOG_FORMAT=json every line it logs, Akka's included, is a
    /// JSON object with the run id.
    /// </summary>
    [Fact]
    public async Task ACoordinatorOutsideTheClusterIsNotReadyAndLogsJsonLines()
    {
        using var dir = new TempDir();
        var port = TestPorts.Free();
        var environment = new Dictionary<string, string> { [EnvironmentVariables.LogFormat] = "json" };
        using var coordinator = new ChaosHarness(environment, [.. ResumeTests.Run, "--out", dir.File("run"), "--seeds", $"akka.tcp://copal@127.0.0.1:{TestPorts.Free()}", "--metrics-port", port.ToString()]);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };

        await PollAsync(http, s => s.Live is not null, TimeSpan.FromMinutes(1));
        // Long enough for a member whose seed answers to be Up (a 3-node run's are within 3 s).
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(HealthServer.HealthPath)).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync(HealthServer.ReadyPath)).StatusCode);

        using (var term = Process.Start("kill", ["-TERM", coordinator.Pid.ToString()]))
        {
            await term.WaitForExitAsync();
        }

        // It stops at once, although the member's wait for nodes would have lasted --node-timeout.
        Assert.Equal(128 + 15, coordinator.WaitForExit(TimeSpan.FromSeconds(30)));
        var lines = (await coordinator.Stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.Contains("Metrics and health", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("Stopping on SIGTERM", StringComparison.Ordinal) && l.Contains("copal resume", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("\"AkkaSource\"", StringComparison.Ordinal));
        Assert.All(lines, line =>
        {
            using var json = JsonDocument.Parse(line);
            Assert.Equal("run", json.RootElement.GetProperty("RunId").GetString());
        });
    }

    /// <summary>A coordinator that reaches no seed within COPAL_JOIN_TIMEOUT exits, instead of waiting for nodes until --node-timeout.</summary>
    [Fact]
    public void ACoordinatorThatReachesNoSeedExits()
    {
        using var dir = new TempDir();
        var environment = new Dictionary<string, string> { [EnvironmentVariables.JoinTimeout] = "3" };

        var result = CopalCli.Run(TimeSpan.FromMinutes(2), environment, [.. ResumeTests.Run, "--out", dir.File("run"), "--seeds", $"akka.tcp://copal@127.0.0.1:{TestPorts.Free()}"]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("cluster member has stopped", result.Stderr);
        Assert.Contains("copal resume", result.Stderr);
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

        foreach (var bad in new[] { "0", "-1", "NaN" })
        {
            var refused = CopalCli.Run("status", "--url", $"http://127.0.0.1:{TestPorts.Free()}", "--timeout", bad);
            Assert.Equal(2, refused.ExitCode);
            Assert.Contains($"--timeout {bad}: expected seconds above 0", refused.Stderr);
        }
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
                    last = CopalJson.Deserialize<RunStatus>(await response.Content.ReadAsStringAsync());
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
