using System.Text.Json.Nodes;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>The scaling part's rounds: seconds are the fastest round's, speedups the median of the rounds' own.</summary>
/// <param name="Cpus">The CPUs of the nodes, in node order; the one process ran on the first.</param>
public sealed record ScalingTimes(IReadOnlyList<ScalingRound> Rounds, IReadOnlyList<string> Cpus)
{
    /// <summary>One-process seconds over node seconds of the COPAL stage (the pipeline schedule).</summary>
    public double PipelineSpeedup => RoundRatio.Median(Rounds.Select(r => (r.CopalOne, r.CopalNodes)));

    /// <summary>The same for the Wanda stage with pruned propagation (a wave).</summary>
    public double WaveSpeedup => RoundRatio.Median(Rounds.Select(r => (r.WandaOne, r.WandaNodes)));

    public JsonObject Json() => new()
    {
        ["nodes"] = ScalingPerf.Nodes,
        ["threads_per_process"] = 1,
        ["one_process_cpus"] = Cpus[0],
        ["node_cpus"] = string.Join(',', Cpus),
        ["coordinator_cpus"] = string.Join(',', Cpus),
        ["copal_one_process_seconds"] = Rounds.Min(r => r.CopalOne),
        ["copal_2_nodes_seconds"] = Rounds.Min(r => r.CopalNodes),
        ["wanda_one_process_seconds"] = Rounds.Min(r => r.WandaOne),
        ["wanda_2_nodes_seconds"] = Rounds.Min(r => r.WandaNodes),
        ["rounds"] = new JsonArray(Rounds.Select(r => (JsonNode)new JsonObject
        {
            ["copal_one_process_seconds"] = r.CopalOne,
            ["copal_2_nodes_seconds"] = r.CopalNodes,
            ["wanda_one_process_seconds"] = r.WandaOne,
            ["wanda_2_nodes_seconds"] = r.WandaNodes,
            ["copal_node_activity"] = r.CopalActivity?.DeepClone(),
            ["wanda_node_activity"] = r.WandaActivity?.DeepClone(),
        }).ToArray()),
    };
}
