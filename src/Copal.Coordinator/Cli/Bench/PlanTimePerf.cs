using System.Text.Json.Nodes;
using Copal.Coordinator.Cluster;
using Copal.Model;
using Copal.Planning;
using Copal.Pruning;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// The planner's time against the clock: the seconds `copal plan` predicts for the bench's
/// in-process COPAL stage (one node holding every layer), at the rate the dense forward of the
/// same round sustained, over the seconds that stage took. The rate counts the forward's FLOPs as
/// the planner does (causal attention halved), as anyone deriving --tflops from a forward would.
/// </summary>
public static class PlanTimePerf
{
    public static (double Ratio, JsonObject Details) Measure(string modelDir, PerfSettings settings, EngineTimes engine)
    {
        using var model = LlamaModel.Open(modelDir);
        var compute = settings.Compute;
        var request = PlanRequestFactory.Create(PlannedModel.Of(model), PruningMethod.Copal, Propagation.Dense, settings.Samples, settings.SeqLen, compute.BatchSize, NodeMemoryPerf.InFlight, compute.DType);
        var plan = LayerPlanner.Plan(request, [new NodeCapacity("in-process", long.MaxValue / 4)]);
        var forwardFlops = (double)CostModel.LayerForwardFlopsPerToken(model.Config, settings.SeqLen) * request.TokensPerStage * model.Config.NumHiddenLayers;
        var rounds = engine.Rounds.Select(r =>
        {
            var tflops = forwardFlops / r.ForwardSeconds / 1e12;
            return (Tflops: tflops, Predicted: plan.EstimatedSeconds(tflops), Measured: r.Copal.Seconds);
        }).ToList();
        var fastest = rounds.MaxBy(r => r.Tflops);
        var details = new JsonObject
        {
            ["plan_flops_per_stage"] = plan.FlopsPerStage,
            ["plan_forward_flops"] = forwardFlops,
            ["forward_gflops_as_planned"] = fastest.Tflops * 1e3,
            ["predicted_seconds"] = fastest.Predicted,
            ["measured_seconds"] = rounds.Min(r => r.Measured),
            ["rounds"] = new JsonArray(rounds.Select(r => (JsonNode)new JsonObject
            {
                ["forward_gflops_as_planned"] = r.Tflops * 1e3,
                ["predicted_seconds"] = r.Predicted,
                ["measured_seconds"] = r.Measured,
            }).ToArray()),
        };
        return (RoundRatio.Median(rounds.Select(r => (r.Predicted, r.Measured))), details);
    }
}
