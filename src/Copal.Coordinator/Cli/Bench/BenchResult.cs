using Copal.Evaluation;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>The results of a whole bench.</summary>
public sealed record BenchResult(IReadOnlyList<string> Datasets, IReadOnlyList<PerplexityResult> Dense, IReadOnlyList<BenchCombination> Combinations);
