using System.Net.Sockets;
using Copal.Cluster;
using Copal.Observability;
using Copal.Transport;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>
/// Mutual TLS on the data path (COPAL_TLS_CERT): only a peer with the cluster's certificate opens a
/// connection; plain TCP and a foreign certificate are refused before any frame is read, and counted.
/// </summary>
[Collection("tls-trust-store")]
public class DataPathTlsTests
{
    private const string Host = "127.0.0.1";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task OnlyAPeerWithTheClusterCertificateOpensADataConnection()
    {
        using var dir = new TempDir();
        using var good = TestCertificates.SelfSigned($"CN=copal-cluster-{Guid.NewGuid():N}");
        using var foreign = TestCertificates.SelfSigned($"CN=someone-else-{Guid.NewGuid():N}");
        using var trusted = TestCertificates.Trust(good);
        using var clusterTls = DataPathTls.For(new ClusterTls(TestCertificates.Export(good, dir.File("cluster.pfx")), TestCertificates.Password))!;
        using var foreignTls = DataPathTls.For(new ClusterTls(TestCertificates.Export(foreign, dir.File("foreign.pfx")), TestCertificates.Password))!;
        CopalMetrics.Initialise();
        var certificateRefusals = CopalMetrics.DataConnectionsRefused.WithLabels("certificate");
        var before = certificateRefusals.Value;

        var ticket = LinkTicket.Draw(1);
        await using var listener = new ActivationListener(Host, 0, window: 4, clusterTls);
        listener.Admit(ticket);
        using var payload = randn(16, 8);

        // Plain TCP with the right ticket and a valid frame: refused at the handshake.
        using (var plain = await ActivationSender.ConnectAsync(Host, listener.Port, ticket))
        {
            using var frame = new ActivationFrame(1, 1, FrameKind.Calibration, 0, 0, "plain", payload.alias());
            await Assert.ThrowsAnyAsync<IOException>(async () =>
            {
                // The refusal shows on a later send once the listener has closed the connection.
                for (var i = 0; i < 50; i++)
                {
                    await plain.SendAsync(frame);
                    await Task.Delay(20);
                }
            });
        }

        // A certificate the cluster does not trust: refused on one side or the other of the handshake.
        try
        {
            using var rogue = await ActivationSender.ConnectAsync(Host, listener.Port, ticket, foreignTls, TimeSpan.FromSeconds(5));
            using var frame = new ActivationFrame(1, 1, FrameKind.Calibration, 0, 0, "foreign", payload.alias());
            await rogue.SendAsync(frame);
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
        {
            // The listener cut it during or right after the handshake.
        }

        var deadline = DateTime.UtcNow + Patience;
        while (certificateRefusals.Value - before < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{certificateRefusals.Value - before} certificate refusals counted, expected 2");
            await Task.Delay(20);
        }

        // The cluster's own: admitted, and the frame arrives bit for bit; nothing of the refused ones does.
        await using (var member = await ActivationSender.ConnectAsync(Host, listener.Port, ticket, clusterTls))
        {
            using var frame = new ActivationFrame(1, 1, FrameKind.Calibration, 0, 0, "member", payload.alias());
            await member.SendAsync(frame);
            using var got = await listener.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal("member", got.Tag);
            Assert.True(payload.bytes.SequenceEqual(got.Payload!.bytes), "the payload changed on the way");
        }

        Assert.Equal(2, certificateRefusals.Value - before);
    }
}
