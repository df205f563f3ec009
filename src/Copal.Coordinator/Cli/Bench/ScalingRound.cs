using System.Text.Json.Nodes;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>One round of the scaling part: each stage's seconds in one process on one core and on the nodes, and the nodes' activity.</summary>
public sealed record ScalingRound(double CopalOne, double CopalNodes, double WandaOne, double WandaNodes, JsonArray? CopalActivity, JsonArray? WandaActivity);
