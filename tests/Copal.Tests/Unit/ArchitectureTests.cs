using ArchUnitNET.Domain;
using ArchUnitNET.Loader;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// The core (model, tensors, tokenizers, data, evaluation and the pruning math) knows no cluster,
/// and no namespace depends on another that depends back on it. Read from the compiled assemblies.
/// </summary>
public class ArchitectureTests
{
    private static readonly string[] Core = ["Copal", "Copal.Model", "Copal.Nn", "Copal.Tokenization", "Copal.Data", "Copal.Evaluation", "Copal.Pruning"];

    private static readonly string[] OutsideCore =
    [
        "Copal.Cluster", "Copal.Transport", "Copal.Pipeline", "Copal.Stages", "Copal.Runs", "Copal.Observability", "Copal.Planning",
        "Copal.Coordinator", "Copal.GpuNode", "Akka", "Prometheus",
    ];

    private static readonly Architecture Code = new ArchLoader()
        .LoadAssemblies(typeof(PhaseClock).Assembly, typeof(Coordinator.Cli.Hosting.CommonOptions).Assembly)
        .Build();

    /// <summary>Namespace to namespace, with one type-to-type example of each edge.</summary>
    private static readonly Dictionary<(string From, string To), string> Edges = NamespaceEdges();

    [Fact]
    public void TheCoreDependsOnNothingOfTheCluster()
    {
        var violations = Edges
            .Where(e => Core.Any(c => IsIn(e.Key.From, c)) && OutsideCore.Any(o => IsIn(e.Key.To, o)))
            .Select(e => $"{e.Key.From} -> {e.Key.To} ({e.Value})")
            .ToList();
        Assert.True(violations.Count == 0, "the core depends on:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void NamespacesFormNoCycle()
    {
        var graph = Edges.Keys
            .Select(e => (From: Slice(e.From), To: Slice(e.To)))
            .Where(e => e.From != e.To && e.To.StartsWith("Copal", StringComparison.Ordinal))
            .GroupBy(e => e.From)
            .ToDictionary(g => g.Key, g => g.Select(e => e.To).ToHashSet());
        // Each cycle once: as found from its first namespace in order.
        var cycles = graph.Keys.Order(StringComparer.Ordinal)
            .Select(start => (Start: start, Path: CycleThrough(start, graph)))
            .Where(c => c.Path is not null)
            .GroupBy(c => string.Join(",", c.Path!.Split(" -> ").Distinct().Order(StringComparer.Ordinal)))
            .Select(g => g.First().Path!)
            .ToList();
        Assert.True(cycles.Count == 0, "namespace cycles:\n" + string.Join("\n", cycles));
    }

    [Fact]
    public void TheRulesSeeTheCode()
    {
        // A loader that read nothing would pass both rules: the core's own edges must be there.
        Assert.Contains(("Copal.Nn", "Copal.Model"), Edges.Keys);
        Assert.Contains(("Copal.Runs", "Copal.Pipeline"), Edges.Keys);
    }

    private static Dictionary<(string From, string To), string> NamespaceEdges()
    {
        var edges = new Dictionary<(string, string), string>();
        foreach (var type in Code.Types)
        {
            var from = type.Namespace?.FullName ?? "";
            foreach (var dependency in type.Dependencies)
            {
                var to = dependency.Target?.Namespace?.FullName ?? "";
                if (from != to && to.Length > 0)
                {
                    edges.TryAdd((from, to), $"{type.FullName} -> {dependency.Target!.FullName}");
                }
            }
        }

        return edges;
    }

    private static bool IsIn(string ns, string root) => ns == root || (root != "Copal" && ns.StartsWith(root + ".", StringComparison.Ordinal));

    /// <summary>The unit the cycle rule compares: Copal.X, or Copal.Coordinator.X.</summary>
    private static string Slice(string ns)
    {
        var parts = ns.Split('.');
        var depth = parts.Length > 1 && parts[1] is "Coordinator" or "GpuNode" ? 3 : 2;
        return string.Join('.', parts.Take(depth));
    }

    /// <summary>A path from <paramref name="start"/> back to itself, if there is one.</summary>
    private static string? CycleThrough(string start, Dictionary<string, HashSet<string>> graph)
    {
        var previous = new Dictionary<string, string>();
        var queue = new Queue<string>([start]);
        while (queue.Count > 0)
        {
            var node = queue.Dequeue();
            foreach (var next in graph.GetValueOrDefault(node) ?? [])
            {
                if (next == start)
                {
                    var path = new List<string> { start };
                    for (var n = node; n != start; n = previous[n])
                    {
                        path.Insert(1, n);
                    }

                    return string.Join(" -> ", path.Append(start));
                }

                if (previous.TryAdd(next, node))
                {
                    queue.Enqueue(next);
                }
            }
        }

        return null;
    }
}
