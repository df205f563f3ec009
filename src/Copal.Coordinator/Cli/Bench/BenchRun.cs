using Copal.Evaluation;
using Copal.Pruning;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>One continual run of a bench: a method/strategy over one order of the datasets.</summary>
public sealed record BenchRun(IReadOnlyList<string> Order, string Directory, double[][] Perplexity)
{
    public double BwtMean => ContinualMetrics.BwtMean(Perplexity);

    public double BwtMax => ContinualMetrics.BwtMax(Perplexity);

    public double AveragePerplexity => ContinualMetrics.AveragePerplexity(Perplexity);
}
