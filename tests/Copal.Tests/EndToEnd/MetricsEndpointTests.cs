using System.Diagnostics;
using System.Net;
using Copal.Observability;
using Xunit;

namespace Copal.Tests;

/// <summary>A real copal-node process serves /metrics, /healthz and /readyz on its metrics port.</summary>
public class MetricsEndpointTests
{
    /// <summary>With IPv6 off the server listens on IPv4 alone, as in containers whose kernel has no IPv6.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NodeServesMetricsAndHealth(bool ipv6)
    {
        var port = TestPorts.Free();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "copal-node.dll"), "--seeds", $"akka.tcp://copal@127.0.0.1:{TestPorts.Free()}", "--metrics-port", port.ToString(), "--node-id", "metrics-test", "--threads", "1" })
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["COPAL_LOG_FORMAT"] = "json";
        if (!ipv6)
        {
            start.Environment["DOTNET_SYSTEM_NET_DISABLEIPV6"] = "1";
        }
        using var process = Process.Start(start)!;
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => log.Enqueue(e.Data ?? string.Empty);
        process.ErrorDataReceived += (_, e) => log.Enqueue(e.Data ?? string.Empty);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            HttpResponseMessage? health = null;
            while (DateTime.UtcNow < deadline && !process.HasExited)
            {
                try
                {
                    health = await http.GetAsync(HealthServer.HealthPath);
                    break;
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(200);
                }
            }

            Assert.True(health?.StatusCode == HttpStatusCode.OK, "no /healthz answer; node log:\n" + string.Join('\n', log));

            // No seed answers, so the node never becomes an Up member: not ready.
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync(HealthServer.ReadyPath)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/nothing")).StatusCode);

            var metrics = await http.GetStringAsync(HealthServer.MetricsPath);
            foreach (var name in CopalMetrics.Names)
            {
                Assert.Contains("\n" + name, "\n" + metrics);
            }

            Assert.Contains("copal_phase_seconds_total{phase=\"forward\"}", metrics);
            Assert.Contains("copal_process_memory_bytes{kind=\"working_set\"}", metrics);

            // Container logs: JSON lines carrying the node's name.
            var line = log.FirstOrDefault(l => l.Contains("Metrics and health", StringComparison.Ordinal));
            Assert.NotNull(line);
            using var json = System.Text.Json.JsonDocument.Parse(line);
            Assert.Equal("metrics-test", json.RootElement.GetProperty("Node").GetString());

            // Akka's own events (here: the seed that does not answer) are JSON lines with the same fields.
            var akkaDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            string? akka;
            while ((akka = log.FirstOrDefault(l => l.Contains("\"AkkaSource\"", StringComparison.Ordinal))) is null && DateTime.UtcNow < akkaDeadline)
            {
                await Task.Delay(200);
            }

            Assert.True(akka != null, "no Akka event in the node's log:\n" + string.Join('\n', log));
            using var akkaJson = System.Text.Json.JsonDocument.Parse(akka);
            Assert.Equal("metrics-test", akkaJson.RootElement.GetProperty("Node").GetString());
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.WaitForExit(10000);
        }
    }
}
