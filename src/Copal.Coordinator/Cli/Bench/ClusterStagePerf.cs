using System.Globalization;
using Copal.Coordinator.Reporting;
using Copal.Pruning;
using Serilog;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>The cluster part of `copal bench perf`: the same stage in one process, on node processes, and on node processes with TLS.</summary>
public static class ClusterStagePerf
{
    /// <summary>
    /// Times one copal stage in one process and on N node processes, plain and with TLS on
    /// remoting and the data path: `copal prune --nodes 0` and `--nodes N` as child processes, side
    /// by side for <see cref="ClusterStageRequest.Rounds"/> rounds (the order reversed every other round).
    /// </summary>
    public static ClusterStageTimes Measure(ClusterStageRequest request)
    {
        var tls = BenchCertificate.ClusterEnvironment(request.WorkDirectory);
        var bits = new SameBits("copal stage, dense propagation");
        double StageSeconds(int nodes, IReadOnlyDictionary<string, string>? environment = null)
        {
            var stage = ChildStage.Run(
                [
                    .. ChildCopal.PruneArguments(request.ModelDirectory, PruningMethod.Copal, request.Samples, request.SeqLen, request.Compute, request.Threads),
                    "--importance-precision", PruneReport.PrecisionName(request.Precision), "--nodes", nodes.ToString(CultureInfo.InvariantCulture),
                ],
                Path.Combine(request.WorkDirectory, $"nodes-{nodes}"),
                environment);
            bits.Check(nodes == 0 ? "one process" : environment is null ? $"{nodes} nodes" : $"{nodes} nodes with TLS", stage.Digests);
            return stage.Seconds;
        }

        var rounds = new List<ClusterRound>();
        for (var round = 1; round <= request.Rounds; round++)
        {
            // The order reverses every other round, so a machine slowing down or speeding up over
            // the rounds does not favour any side.
            double i, c, t;
            if (round % 2 == 1)
            {
                (i, c, t) = (StageSeconds(0), StageSeconds(request.Nodes), StageSeconds(request.Nodes, tls));
            }
            else
            {
                (t, c, i) = (StageSeconds(request.Nodes, tls), StageSeconds(request.Nodes), StageSeconds(0));
            }

            Log.Information("Cluster round {Round}: in-process stage {InProcess:F2}s, {Nodes} nodes {Cluster:F2}s, with TLS {Tls:F2}s", round, i, request.Nodes, c, t);
            rounds.Add(new ClusterRound(i, c, t));
        }

        return new ClusterStageTimes(rounds);
    }
}
