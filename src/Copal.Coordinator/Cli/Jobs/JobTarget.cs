namespace Copal.Coordinator.Cli.Jobs;

/// <summary>Where a run writes, and what to do with a run already there.</summary>
/// <param name="Resume">Continue the run in <paramref name="OutDir"/> from its journal instead of starting one.</param>
/// <param name="Extend">The run continues over datasets its run.json does not list yet: record them.</param>
public sealed record JobTarget(string OutDir, bool Force, string? ReportPath, bool Resume, bool Extend = false);
