using System.Text.Json.Nodes;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>What the in-process part measured: every round, and the GEMM rates at one micro-batch's shapes.</summary>
/// <param name="ForwardFlops">FLOPs of one forward (<see cref="EnginePerf.ForwardFlops"/>).</param>
public sealed record EngineTimes(IReadOnlyList<EngineRound> Rounds, long Tokens, double ForwardFlops, double MatmulGflops, double ImportanceGflops)
{
    /// <summary>Adds the in-process measures to the report: seconds and rates of the fastest round, ratios the median of the rounds' own.</summary>
    public void WriteTo(JsonObject json)
    {
        var forward = Rounds.Min(r => r.ForwardSeconds);
        var copalStage = Rounds.MinBy(r => r.Copal.Seconds)!.Copal;
        var wandaStage = Rounds.MinBy(r => r.Wanda.Seconds)!.Wanda;
        json["forward_seconds"] = forward;
        json["forward_tokens_per_s"] = Tokens / forward;
        json["forward_gflops"] = ForwardFlops / forward / 1e9;
        json["matmul_gflops"] = MatmulGflops;
        json["forward_over_matmul"] = ForwardFlops / forward / 1e9 / MatmulGflops;
        json["copal_stage_seconds"] = copalStage.Seconds;
        json["copal_stage_phase_seconds"] = copalStage.PhaseJson();
        json["wanda_stage_seconds"] = wandaStage.Seconds;
        json["wanda_stage_phase_seconds"] = wandaStage.PhaseJson();
        json["copal_stage_over_forward"] = RoundRatio.Median(Rounds.Select(r => (r.Copal.Seconds, r.ForwardSeconds)));
        json["wanda_stage_over_forward"] = RoundRatio.Median(Rounds.Select(r => (r.Wanda.Seconds, r.ForwardSeconds)));
        json["rounds"] = new JsonArray(Rounds.Select(r => (JsonNode)new JsonObject { ["forward_seconds"] = r.ForwardSeconds, ["copal_stage_seconds"] = r.Copal.Seconds, ["wanda_stage_seconds"] = r.Wanda.Seconds }).ToArray());
        json["importance_gflops"] = ImportanceGflops;
        json["importance_gemm_efficiency"] = ImportanceGflops / MatmulGflops;
    }
}
