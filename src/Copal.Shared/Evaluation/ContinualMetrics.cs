namespace Copal.Evaluation;

/// <summary>
/// Backward transfer and average perplexity of a perplexity matrix P[stage][dataset]. A missing
/// value (NaN: the dataset's test split was not found) is left out of every mean and maximum.
/// </summary>
public static class ContinualMetrics
{
    /// <summary>Mean over k &lt; T of P[T][k] - P[k][k]; zero for a single stage or when no pair is measured.</summary>
    public static double BwtMean(double[][] p) => Forgetting(p).DefaultIfEmpty(0).Average();

    /// <summary>Max over k &lt; T of P[T][k] - P[k][k]; zero for a single stage or when no pair is measured.</summary>
    public static double BwtMax(double[][] p) => Forgetting(p).DefaultIfEmpty(0).Max();

    /// <summary>Mean over k of P[T][k]; NaN when none is measured.</summary>
    public static double AveragePerplexity(double[][] p) => p[^1].Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();

    private static IEnumerable<double> Forgetting(double[][] p)
    {
        var last = p.Length - 1;
        return Enumerable.Range(0, last).Select(k => p[last][k] - p[k][k]).Where(double.IsFinite);
    }
}
