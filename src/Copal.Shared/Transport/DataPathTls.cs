using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Copal.Cluster;

namespace Copal.Transport;

/// <summary>
/// Mutual TLS on the data path with remoting's certificate and trust (<see cref="ClusterTls"/>):
/// both ends present the cluster's certificate, and each validates the other's chain against the
/// machine's trust store, the host name only when remoting checks it too.
/// </summary>
public sealed class DataPathTls : IDisposable
{
    private readonly X509Certificate2 certificate;
    private readonly bool validateHostname;

    private DataPathTls(X509Certificate2 certificate, bool validateHostname)
    {
        this.certificate = certificate;
        this.validateHostname = validateHostname;
    }

    /// <summary>The data path's TLS for a cluster that runs remoting with <paramref name="tls"/>; null (plain TCP) without.</summary>
    public static DataPathTls? For(ClusterTls? tls)
    {
        if (tls is null)
        {
            return null;
        }

        if (!File.Exists(tls.CertificatePath))
        {
            throw new CopalInputException($"TLS certificate {tls.CertificatePath} ({EnvironmentVariables.TlsCert}) not found");
        }

        return new DataPathTls(X509CertificateLoader.LoadPkcs12FromFile(tls.CertificatePath, tls.Password), tls.ValidateHostname);
    }

    public void Dispose() => certificate.Dispose();

    internal Task<Stream> AcceptAsync(Stream inner, CancellationToken cancellationToken) =>
        AuthenticatedAsync(inner, ssl => ssl.AuthenticateAsServerAsync(
            new SslServerAuthenticationOptions
            {
                ServerCertificate = certificate,
                ClientCertificateRequired = true,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = Validate,
            },
            cancellationToken));

    internal Task<Stream> ConnectAsync(Stream inner, string host, CancellationToken cancellationToken) =>
        AuthenticatedAsync(inner, ssl => ssl.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions
            {
                TargetHost = host,
                ClientCertificates = [certificate],

                // The cluster's certificate whatever issuers the listener names: it is the only one either end trusts.
                LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = Validate,
            },
            cancellationToken));

    /// <summary>The TLS stream over <paramref name="inner"/> once <paramref name="handshake"/> succeeded; both are closed if it failed.</summary>
    private static async Task<Stream> AuthenticatedAsync(Stream inner, Func<SslStream, Task> handshake)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        try
        {
            await handshake(ssl).ConfigureAwait(false);
            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private bool Validate(object sender, X509Certificate? peer, X509Chain? chain, SslPolicyErrors errors) =>
        peer is not null && (validateHostname ? errors : errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None;
}
