using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// A self-signed cluster certificate for loopback, and the environment that makes child
/// processes use it: COPAL_TLS_CERT for remoting and the data path, and SSL_CERT_FILE so that they
/// (and only they) trust it, without touching this user's trust store.
/// </summary>
public static class BenchCertificate
{
    public const string Password = "copal-bench";

    /// <summary>A certificate for 127.0.0.1 and localhost, valid for server and client authentication, for a day.</summary>
    public static X509Certificate2 SelfSigned(string subject)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>Writes a new certificate into <paramref name="directory"/>; returns the environment of a TLS cluster that uses it.</summary>
    public static IReadOnlyDictionary<string, string> ClusterEnvironment(string directory)
    {
        using var certificate = SelfSigned($"CN=copal-bench-{Guid.NewGuid():N}");
        var pfx = Path.Combine(directory, "cluster.pfx");
        var ca = Path.Combine(directory, "ca.crt");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pkcs12, Password));
        File.WriteAllText(ca, certificate.ExportCertificatePem());
        return new Dictionary<string, string>
        {
            [Copal.Cluster.EnvironmentVariables.TlsCert] = pfx,
            [Copal.Cluster.EnvironmentVariables.TlsPassword] = Password,
            ["SSL_CERT_FILE"] = ca,
        };
    }
}
