namespace Copal.Pruning.Metrics;

/// <summary>The metric plug-in for each method.</summary>
public static class Metrics
{
    public static IImportanceMetric For(PruningMethod method, Perturbation perturbation) => method switch
    {
        PruningMethod.Magnitude => new MagnitudeMetric(),
        PruningMethod.Wanda => new WandaMetric(),
        PruningMethod.SparseGpt => new SparseGptMetric(),
        _ => new CopalMetric(perturbation),
    };
}
