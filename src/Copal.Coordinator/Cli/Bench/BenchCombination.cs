using Copal.Pruning;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>All the orders of one method/strategy, and their aggregates.</summary>
public sealed record BenchCombination(PruningSettings Settings, string Directory, IReadOnlyList<BenchRun> Runs)
{
    public OverOrders AveragePerplexity => OverOrders.Of(Runs.Select(r => r.AveragePerplexity));

    public OverOrders BwtMean => OverOrders.Of(Runs.Select(r => r.BwtMean));

    public OverOrders BwtMax => OverOrders.Of(Runs.Select(r => r.BwtMax));
}
