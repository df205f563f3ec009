using System.Net.Sockets;
using Copal.Cluster;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// A cluster run with COPAL_TLS_CERT: remoting and the data path both run mutual TLS, a plain
/// connection to each node's ports while the run goes on is refused and logged, and the run ends
/// bit-identical to one in a single process.
/// </summary>
[Collection("tls-trust-store")]
public class DataPathTlsRunTests
{
    [Fact]
    public async Task ATlsClusterRefusesAPlainPeerAndEndsIdentical()
    {
        using var dir = new TempDir();
        var clean = CopalCli.Run([.. ResumeTests.Run, "--out", dir.File("clean")]);
        Assert.True(clean.ExitCode == 0, clean.Stderr);

        using var certificate = TestCertificates.SelfSigned($"CN=copal-cluster-{Guid.NewGuid():N}");
        using var trusted = TestCertificates.Trust(certificate);
        var environment = new Dictionary<string, string>
        {
            [EnvironmentVariables.TlsCert] = TestCertificates.Export(certificate, dir.File("cluster.pfx")),
            [EnvironmentVariables.TlsPassword] = TestCertificates.Password,
        };
        var run = dir.File("tls");
        using var copal = new ChaosHarness(environment, [.. ResumeTests.Run, "--out", run, "--nodes", "2", "--node-timeout", "120", "--log-level", "Debug"]);
        ChaosHarness.WaitForJournal(run, "\"stage-started\"", TimeSpan.FromMinutes(3));

        // Whatever each node listens on (remoting, data, metrics): a plain peer that writes bytes.
        var nodes = copal.NodePids();
        Assert.Equal(2, nodes.Count);
        foreach (var port in nodes.SelectMany(ChaosHarness.ListeningPorts))
        {
            try
            {
                using var plain = new TcpClient();
                await plain.ConnectAsync("127.0.0.1", port);
                await plain.GetStream().WriteAsync("CPLT not a member\r\n\r\n"u8.ToArray());
                await Task.Delay(200);
            }
            catch (SocketException)
            {
                // A port that went away in between.
            }
        }

        Assert.Equal(0, copal.WaitForExit(TimeSpan.FromMinutes(6)));
        var log = await copal.Stderr;
        Assert.Contains("akka.ssl.tcp://", log);
        Assert.Equal(2, log.Split('\n').Count(l => l.Contains("Refused data connection", StringComparison.Ordinal) && l.Contains("mutual TLS failed", StringComparison.Ordinal)));
        ResumeTests.AssertSameCheckpoints(dir.File("clean"), run);
    }
}
