using System.Globalization;
using Akka.Configuration;

namespace Copal.Cluster;

/// <summary>Where a process listens and whom it joins.</summary>
/// <param name="Tls">TLS for remoting; null: from <see cref="ClusterTls.FromEnvironment"/> (plain TCP when that is unset too).</param>
public sealed record ClusterEndpoint(string Host, int Port, string? PublicHost, IReadOnlyList<string> Seeds, string Role, ClusterTls? Tls = null);

/// <summary>
/// TLS on Akka remoting (DotNetty): every member presents <paramref name="CertificatePath"/> (a
/// PKCS#12 file with its private key), both sides of every connection must present one
/// (mutual TLS), and the peer's chain is validated against the machine's trust store.
/// </summary>
/// <param name="ValidateHostname">Also require the peer certificate's name to match its host name.</param>
public sealed record ClusterTls(string CertificatePath, string? Password, bool ValidateHostname = false)
{
    /// <summary>From COPAL_TLS_CERT / COPAL_TLS_PASSWORD; null when COPAL_TLS_CERT is unset.</summary>
    public static ClusterTls? FromEnvironment() =>
        EnvironmentVariables.Get(EnvironmentVariables.TlsCert) is { } path
            ? new ClusterTls(path, EnvironmentVariables.Get(EnvironmentVariables.TlsPassword))
            : null;
}

/// <summary>
/// The Akka configuration every Copal process uses. Activations never travel over remoting
/// (they have their own TCP data path), so the default frame size is kept and heartbeats are
/// never queued behind bulk data. Failure detection is patient enough for nodes busy in long
/// GEMMs, and the split-brain resolver downs unreachable members so a run can go on.
/// A process that cannot reach any seed shuts down after COPAL_JOIN_TIMEOUT seconds (default
/// 60), so an orchestrator restarts it instead of leaving it hanging; the resolver's
/// stable-after is COPAL_DOWN_AFTER seconds (default 20).
/// </summary>
public static class ClusterConfig
{
    public static readonly TimeSpan DefaultDownAfter = TimeSpan.FromSeconds(20);

    public static readonly TimeSpan DefaultJoinTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How long a member may miss heartbeats before the failure detector calls it unreachable.</summary>
    public static readonly TimeSpan HeartbeatPause = TimeSpan.FromSeconds(10);

    public static Config Build(ClusterEndpoint endpoint, TimeSpan? downAfter = null)
    {
        var tls = endpoint.Tls ?? ClusterTls.FromEnvironment();

        // With TLS the remoting scheme is akka.ssl.tcp; seeds may be written either way.
        var seeds = string.Join(", ", endpoint.Seeds.Select(s => Quote(tls is null ? s : s.Replace("akka.tcp://", "akka.ssl.tcp://", StringComparison.Ordinal))));
        var stableAfter = Seconds(downAfter ?? EnvSeconds(EnvironmentVariables.DownAfter) ?? DefaultDownAfter);
        var joinTimeout = EnvironmentVariables.Get(EnvironmentVariables.JoinTimeout) is "off"
            ? "off"
            : Seconds(EnvSeconds(EnvironmentVariables.JoinTimeout) ?? DefaultJoinTimeout);
        var hocon = $$"""
            akka {
              # Akka's events go through Serilog, so they share the process's format (JSON lines in containers) and fields.
              loggers = ["Copal.Observability.AkkaSerilogLogger, Copal.Shared"]
              loglevel = WARNING
              stdout-loglevel = OFF
              actor.provider = cluster
              # Akka's timers are seconds apart here; the default 10 ms tick wakes every process 100 times a second.
              scheduler.tick-duration = 100ms
              remote.dot-netty.tcp {
                hostname = {{Quote(endpoint.Host)}}
                port = {{endpoint.Port}}
                {{(endpoint.PublicHost is null ? string.Empty : "public-hostname = " + Quote(endpoint.PublicHost))}}
                {{Tls(tls)}}
              }
              cluster {
                roles = [{{Quote(endpoint.Role)}}]
                seed-nodes = [{{seeds}}]
                min-nr-of-members = 1
                shutdown-after-unsuccessful-join-seed-nodes = {{joinTimeout}}
                failure-detector {
                  heartbeat-interval = 1s
                  acceptable-heartbeat-pause = {{Seconds(HeartbeatPause)}}
                  threshold = 12.0
                }
                downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
                split-brain-resolver {
                  active-strategy = keep-oldest
                  stable-after = {{stableAfter}}
                  keep-oldest.down-if-alone = on
                }
                singleton.role = {{Quote(Roles.Coordinator)}}
                singleton-proxy {
                  role = {{Quote(Roles.Coordinator)}}
                  # Akka.NET 1.5 fires this check at once when a proxy starts, before it can have
                  # looked (akka.net#8568), so every run printed a false "failed to find" warning.
                  # A coordinator that never answers fails the run with its own timeout and message.
                  log-singleton-identification-failure = off
                }
              }
              coordinated-shutdown.run-by-clr-shutdown-hook = on
            }
            """;
        return ConfigurationFactory.ParseString(hocon);
    }

    private static string Tls(ClusterTls? tls)
    {
        if (tls is null)
        {
            return "enable-ssl = false";
        }

        if (!File.Exists(tls.CertificatePath))
        {
            throw new CopalInputException($"TLS certificate {tls.CertificatePath} ({EnvironmentVariables.TlsCert}) not found");
        }

        return $$"""
            enable-ssl = true
                ssl {
                  suppress-validation = false
                  require-mutual-authentication = true
                  validate-certificate-hostname = {{(tls.ValidateHostname ? "true" : "false")}}
                  certificate {
                    path = {{Quote(Path.GetFullPath(tls.CertificatePath))}}
                    password = {{Quote(tls.Password ?? string.Empty)}}
                  }
                }
            """;
    }

    private static TimeSpan? EnvSeconds(string variable)
    {
        if (EnvironmentVariables.Get(variable) is not { } text)
        {
            return null;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
            ? TimeSpan.FromSeconds(s)
            : throw new CopalInputException($"{variable}={text}: expected a positive number of seconds");
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s";

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
