using Akka.Actor;
using Akka.Cluster;
using Copal.Cluster;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// Mutual TLS on Akka remoting (COPAL_TLS_CERT): a member with the cluster's certificate joins
/// over loopback; one with another certificate, or none, does not.
/// </summary>
[Collection("tls-trust-store")]
public class RemotingTlsTests
{
    private const string Password = TestCertificates.Password;

    [Fact]
    public async Task OnlyAMemberWithTheClusterCertificateJoins()
    {
        using var dir = new TempDir();
        // A subject of its own: a run killed before its finally leaves its certificate trusted, and a second
        // one of the same name would be taken for the new one's issuer and fail its chain.
        using var good = TestCertificates.SelfSigned($"CN=copal-cluster-{Guid.NewGuid():N}");
        using var other = TestCertificates.SelfSigned("CN=someone-else");
        var goodPath = TestCertificates.Export(good, dir.File("cluster.pfx"));
        var otherPath = TestCertificates.Export(other, dir.File("other.pfx"));

        // Validation is not suppressed: the cluster's (self-signed) certificate must be trusted.
        using (TestCertificates.Trust(good))
        {
            var port = TestPorts.Free();
            var seed = $"akka.tcp://{Roles.SystemName}@127.0.0.1:{port}";
            using var first = Start(port, seed, new ClusterTls(goodPath, Password));
            Assert.True(await UpAsync(first, 1, TimeSpan.FromSeconds(20)), "the seed did not come up");

            using (var joiner = Start(0, seed, new ClusterTls(goodPath, Password)))
            {
                Assert.True(await UpAsync(first, 2, TimeSpan.FromSeconds(30)), "a member with the right certificate did not join");

                // The seed's view is what the next steps need. LeaveAsync waits for the joiner to see its own
                // removal, which it once never did, and the suite hung there.
                var leaving = Akka.Cluster.Cluster.Get(joiner);
                leaving.Leave(leaving.SelfAddress);
                Assert.True(await WaitAsync(() => Akka.Cluster.Cluster.Get(first).State.Members.Count == 1, TimeSpan.FromSeconds(30)), "the member that left is still in the seed's view");
            }

            using (var wrong = Start(0, seed, new ClusterTls(otherPath, Password)))
            {
                Assert.False(await UpAsync(first, 2, TimeSpan.FromSeconds(12)), "a member with a foreign certificate joined");
            }

            using (var plain = Start(0, seed, tls: null))
            {
                Assert.False(await UpAsync(first, 2, TimeSpan.FromSeconds(8)), "a member without TLS joined");
            }
        }
    }

    [Fact]
    public void TheConfigurationAsksForValidatedMutualTls()
    {
        using var dir = new TempDir();
        using var cert = TestCertificates.SelfSigned("CN=copal-cluster");
        var path = dir.File("c.pfx");
        TestCertificates.Export(cert, path);
        var config = ClusterConfig.Build(new ClusterEndpoint("127.0.0.1", 0, null, [], Roles.GpuNode, new ClusterTls(path, Password)));
        Assert.True(config.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
        Assert.False(config.GetBoolean("akka.remote.dot-netty.tcp.ssl.suppress-validation"));
        Assert.True(config.GetBoolean("akka.remote.dot-netty.tcp.ssl.require-mutual-authentication"));
        Assert.Equal(path, config.GetString("akka.remote.dot-netty.tcp.ssl.certificate.path"));
        Assert.Equal(Password, config.GetString("akka.remote.dot-netty.tcp.ssl.certificate.password"));
        Assert.Throws<CopalInputException>(() => ClusterConfig.Build(new ClusterEndpoint("127.0.0.1", 0, null, [], Roles.GpuNode, new ClusterTls(dir.File("missing.pfx"), null))));

        var plain = ClusterConfig.Build(new ClusterEndpoint("127.0.0.1", 0, null, [], Roles.GpuNode));
        Assert.False(plain.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
        Assert.Equal(TimeSpan.FromSeconds(60), plain.GetTimeSpan("akka.cluster.shutdown-after-unsuccessful-join-seed-nodes"));
        Assert.Equal("Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster", plain.GetString("akka.cluster.downing-provider-class"));
    }

    private static ActorSystem Start(int port, string seed, ClusterTls? tls) =>
        ActorSystem.Create(Roles.SystemName, ClusterConfig.Build(new ClusterEndpoint("127.0.0.1", port, null, [seed], Roles.GpuNode, tls)));

    private static Task<bool> UpAsync(ActorSystem system, int members, TimeSpan timeout) =>
        WaitAsync(() => Akka.Cluster.Cluster.Get(system).State.Members.Count(m => m.Status == MemberStatus.Up) >= members, timeout);

    private static async Task<bool> WaitAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(200);
        }

        return condition();
    }
}
