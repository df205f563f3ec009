namespace Copal.Coordinator.Cli.Bench;

/// <summary>One round of the in-process part: the dense forward and the two stages, timed back to back.</summary>
public sealed record EngineRound(double ForwardSeconds, StageTime Copal, StageTime Wanda);
