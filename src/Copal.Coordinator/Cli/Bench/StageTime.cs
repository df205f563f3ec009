using System.Text.Json.Nodes;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>A stage's wall time and the seconds the engine counted in each phase (forward, importance, mask).</summary>
public sealed record StageTime(double Seconds, IReadOnlyList<(string Phase, double Seconds)> Phases)
{
    public string PhaseText => string.Join(", ", Phases.Where(p => p.Seconds > 0).Select(p => $"{p.Phase} {p.Seconds:F2}s"));

    public JsonObject PhaseJson()
    {
        var json = new JsonObject();
        foreach (var (phase, seconds) in Phases)
        {
            json[phase] = seconds;
        }

        return json;
    }
}
