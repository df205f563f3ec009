namespace Copal.Pruning.Metrics;

/// <summary>The metric plug-in for each method.</summary>
public static class Metrics
{
    public static IImportanceMetric For(PruningSettings settings) => settings.Method switch
    {
        PruningMethod.Magnitude => new MagnitudeMetric(),
        PruningMethod.Wanda => new WandaMetric(),
        PruningMethod.SparseGpt => new SparseGptMetric(),
        _ => new CopalMetric(settings.Perturbation, settings.ImportancePrecision),
    };
}
