namespace Copal.Pruning.Metrics;

/// <summary>The metric of each method, by name: every other part asks the metric, never the method.</summary>
public static class Metrics
{
    // In the order the command line lists them.
    private static readonly (PruningMethod Method, Func<Perturbation, ImportancePrecision, IImportanceMetric> Create)[] Registry =
    [
        (PruningMethod.Copal, (perturbation, precision) => new CopalMetric(perturbation, precision)),
        (PruningMethod.Wanda, (_, _) => new WandaMetric()),
        (PruningMethod.Magnitude, (_, _) => new MagnitudeMetric()),
        (PruningMethod.SparseGpt, (_, _) => new SparseGptMetric()),
    ];

    /// <summary>Every method's name.</summary>
    public static IReadOnlyList<string> Names { get; } = Registry.Select(r => NameOf(r.Method)).ToList();

    /// <summary>The metric a run of these settings uses.</summary>
    public static IImportanceMetric For(PruningSettings settings) => Entry(settings.Method).Create(settings.Perturbation, settings.ImportancePrecision);

    /// <summary>The metric of <paramref name="method"/> with default options, for what it says of itself.</summary>
    public static IImportanceMetric Describe(PruningMethod method) => Entry(method).Create(Perturbation.Relative, ImportancePrecision.Float32);

    /// <summary>The name of <paramref name="method"/>.</summary>
    public static string NameOf(PruningMethod method) => Describe(method).Name;

    /// <summary>The method a name stands for.</summary>
    public static PruningMethod Parse(string name) =>
        Registry.Select(r => r.Method).Cast<PruningMethod?>().FirstOrDefault(m => NameOf(m!.Value) == name)
        ?? throw new CopalInputException($"unknown method '{name}' ({string.Join(", ", Names)})");

    private static (PruningMethod Method, Func<Perturbation, ImportancePrecision, IImportanceMetric> Create) Entry(PruningMethod method) =>
        Registry.Single(r => r.Method == method);
}
