using System.Globalization;
using Akka.Configuration;

namespace Copal.Cluster;

/// <summary>Where a process listens and whom it joins.</summary>
public sealed record ClusterEndpoint(string Host, int Port, string? PublicHost, IReadOnlyList<string> Seeds, string Role);

/// <summary>
/// The Akka configuration every Copal process uses. Activations never travel over remoting
/// (they have their own TCP data path), so the default frame size is kept and heartbeats are
/// never queued behind bulk data. Failure detection is patient enough for nodes busy in long
/// GEMMs, and the split-brain resolver downs unreachable members so a run can go on.
/// </summary>
public static class ClusterConfig
{
    public static Config Build(ClusterEndpoint endpoint, TimeSpan? downAfter = null)
    {
        var seeds = string.Join(", ", endpoint.Seeds.Select(s => Quote(s)));
        var stableAfter = (downAfter ?? TimeSpan.FromSeconds(20)).TotalSeconds.ToString(CultureInfo.InvariantCulture);
        var hocon = $$"""
            akka {
              loglevel = WARNING
              stdout-loglevel = WARNING
              actor.provider = cluster
              remote.dot-netty.tcp {
                hostname = {{Quote(endpoint.Host)}}
                port = {{endpoint.Port}}
                {{(endpoint.PublicHost is null ? string.Empty : "public-hostname = " + Quote(endpoint.PublicHost))}}
              }
              cluster {
                roles = [{{Quote(endpoint.Role)}}]
                seed-nodes = [{{seeds}}]
                min-nr-of-members = 1
                shutdown-after-unsuccessful-join-seed-nodes = 60s
                failure-detector {
                  heartbeat-interval = 1s
                  acceptable-heartbeat-pause = 10s
                  threshold = 12.0
                }
                downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
                split-brain-resolver {
                  active-strategy = keep-oldest
                  stable-after = {{stableAfter}}s
                  keep-oldest.down-if-alone = on
                }
                singleton.role = {{Quote(Roles.Coordinator)}}
                singleton-proxy.role = {{Quote(Roles.Coordinator)}}
              }
              coordinated-shutdown.run-by-clr-shutdown-hook = on
            }
            """;
        return ConfigurationFactory.ParseString(hocon);
    }

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
