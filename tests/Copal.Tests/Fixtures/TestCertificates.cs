using System.Security.Cryptography.X509Certificates;

namespace Copal.Tests;

/// <summary>Self-signed cluster certificates as PKCS#12 files, trusted for the current user while the test runs.</summary>
public static class TestCertificates
{
    public const string Password = "copal-test";

    /// <summary>A certificate for loopback and localhost, valid for server and client authentication.</summary>
    public static X509Certificate2 SelfSigned(string subject) => Coordinator.Cli.Bench.BenchCertificate.SelfSigned(subject);

    /// <summary>Writes the certificate with its key to <paramref name="path"/> (PKCS#12, <see cref="Password"/>).</summary>
    public static string Export(X509Certificate2 certificate, string path)
    {
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, Password));
        return path;
    }

    /// <summary>Trusts the certificate (its public part) as a root for the current user until disposed.</summary>
    public static IDisposable Trust(X509Certificate2 certificate) => new Trusted(certificate);

    private sealed class Trusted : IDisposable
    {
        private readonly X509Store store = new(StoreName.Root, StoreLocation.CurrentUser);
        private readonly X509Certificate2 publicOnly;

        public Trusted(X509Certificate2 certificate)
        {
            store.Open(OpenFlags.ReadWrite);
            publicOnly = X509CertificateLoader.LoadCertificate(certificate.Export(X509ContentType.Cert));
            store.Add(publicOnly);
        }

        public void Dispose()
        {
            store.Remove(publicOnly);
            publicOnly.Dispose();
            store.Dispose();
        }
    }
}
