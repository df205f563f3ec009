namespace Copal.Coordinator.Cli.Jobs;

/// <summary>Where a run writes, and what to do with a run already there.</summary>
/// <param name="Resume">Continue the run in <paramref name="OutDir"/> from its journal instead of starting one.</param>
public sealed record JobTarget(string OutDir, bool Force, string? ReportPath, bool Resume);
