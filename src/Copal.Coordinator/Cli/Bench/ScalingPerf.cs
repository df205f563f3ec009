using System.Globalization;
using Copal.Coordinator.Cluster;
using Copal.Coordinator.Reporting;
using Copal.Pruning;
using Serilog;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// The scaling part of `copal bench perf`: what two nodes with a core each gain over one process
/// on one core. One process runs pinned to the first CPU this process may use, with one thread;
/// each node to one of the first two, with one thread; the nodes' coordinator, which embeds the
/// samples and feeds the first node, may use both, so the node run has two cores in all against one.
/// </summary>
public sealed class ScalingPerf(PerfSettings settings)
{
    public const int Nodes = 2;

    /// <summary>
    /// Times a COPAL stage with dense propagation (the pipeline schedule: the nodes work at once)
    /// and a Wanda stage with pruned propagation (a wave: they work one after another) as
    /// `copal prune --nodes 0` and `--nodes 2 --node-cpus`, <see cref="PerfSettings.Repeat"/>
    /// rounds, the order reversed every other round; every run of a stage must write the same bits.
    /// </summary>
    public ScalingTimes Measure(string modelDir, string root)
    {
        if (settings.Shape.Layers % Nodes != 0)
        {
            Log.Warning("{Layers} layers do not split evenly over {Nodes} nodes: the scaling measures that imbalance too", settings.Shape.Layers, Nodes);
        }

        var cpus = CpuPinning.Allowed().Take(Nodes).Select(c => c.ToString(CultureInfo.InvariantCulture)).ToList();
        var work = Path.Combine(root, "scaling");
        Directory.CreateDirectory(work);
        var copal = new SameBits("copal stage, dense propagation");
        var wanda = new SameBits("wanda stage, pruned propagation");
        ChildStage Stage(PruningMethod method, bool onNodes)
        {
            List<string> args =
            [
                .. ChildCopal.PruneArguments(modelDir, method, settings.ClusterSamples, settings.SeqLen, settings.Compute, threads: 1),
                "--importance-precision", PruneReport.PrecisionName(settings.ImportancePrecision),
                "--propagate", method == PruningMethod.Copal ? "dense" : "pruned",
                .. onNodes ? ["--nodes", Nodes.ToString(CultureInfo.InvariantCulture), "--node-cpus", string.Join(',', cpus), "--node-threads", "1"] : new[] { "--nodes", "0" },
            ];
            var configuration = onNodes ? $"{Nodes} nodes on CPUs {string.Join(',', cpus)}" : $"one process on CPU {cpus[0]}";
            var stage = ChildStage.Run(args, Path.Combine(work, "run"), cpus: onNodes ? string.Join(',', cpus) : cpus[0]);
            (method == PruningMethod.Copal ? copal : wanda).Check(configuration, stage.Digests);
            return stage;
        }

        Log.Information("Timing a copal and a wanda stage in one process on one core and on {Nodes} nodes with a core each", Nodes);
        var rounds = new List<ScalingRound>();
        for (var round = 1; round <= settings.Repeat; round++)
        {
            ChildStage c1, cN, w1, wN;
            if (round % 2 == 1)
            {
                (c1, cN, w1, wN) = (Stage(PruningMethod.Copal, false), Stage(PruningMethod.Copal, true), Stage(PruningMethod.Wanda, false), Stage(PruningMethod.Wanda, true));
            }
            else
            {
                (wN, w1, cN, c1) = (Stage(PruningMethod.Wanda, true), Stage(PruningMethod.Wanda, false), Stage(PruningMethod.Copal, true), Stage(PruningMethod.Copal, false));
            }

            var r = new ScalingRound(c1.Seconds, cN.Seconds, w1.Seconds, wN.Seconds, cN.NodeActivity, wN.NodeActivity);
            Log.Information("Scaling round {Round}: copal {One:F2}s on one core, {Nodes} nodes {Cluster:F2}s (x{Speedup:F2}); wanda, pruned propagation, {WandaOne:F2}s and {WandaCluster:F2}s (x{WandaSpeedup:F2})", round, r.CopalOne, Nodes, r.CopalNodes, r.CopalOne / r.CopalNodes, r.WandaOne, r.WandaNodes, r.WandaOne / r.WandaNodes);
            rounds.Add(r);
        }

        return new ScalingTimes(rounds, cpus);
    }
}
