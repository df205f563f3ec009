using System.Text.Json.Nodes;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>One cluster prune of the node-memory part: its processes' peaks, the plan it ran (report.json cluster.plans) and its wall time.</summary>
public sealed record NodeMemoryRun(NodePeaks Peaks, JsonArray Plan, double Seconds);
