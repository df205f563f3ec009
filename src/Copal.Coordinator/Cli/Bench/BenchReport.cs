using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Copal.Coordinator.Reporting;
using Copal.Pruning;
using Copal.Pruning.Metrics;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>The report of a bench: JSON, Markdown, the comparison table and PNG charts.</summary>
public static class BenchReport
{
    public static JsonObject Json(string model, BenchResult bench, ComputeOptions compute, int threads)
    {
        var s = bench.Combinations[0].Settings;
        return new JsonObject
        {
            ["model"] = model,
            ["settings"] = Settings(s, compute, threads),
            ["datasets"] = Strings(bench.Datasets),
            ["methods"] = Strings(bench.Combinations.Select(c => Metrics.NameOf(c.Settings.Method)).Distinct()),
            ["strategies"] = Strings(bench.Combinations.Select(c => StrategyName(c.Settings)).Distinct()),
            ["orders"] = bench.Combinations[0].Runs.Count,
            ["dense_perplexity"] = ReportJson.ByDataset(bench.Dense, r => r.Perplexity),
            ["combinations"] = new JsonArray(bench.Combinations.Select(c => (JsonNode?)new JsonObject
            {
                ["method"] = Metrics.NameOf(c.Settings.Method),
                ["strategy"] = StrategyName(c.Settings),
                ["group"] = PruneReport.GroupName(c.Settings.Mask),
                ["propagate"] = c.Settings.Propagation.ToString().ToLowerInvariant(),
                ["directory"] = Path.GetFullPath(c.Directory),
                ["runs"] = new JsonArray(c.Runs.Select(r => (JsonNode?)new JsonObject
                {
                    ["order"] = Strings(r.Order),
                    ["directory"] = Path.GetFullPath(r.Directory),
                    // P[stage][dataset], both in this run's order.
                    ["perplexity"] = new JsonArray(r.Perplexity.Select(row => (JsonNode?)new JsonArray(row.Select(v => (JsonNode?)v).ToArray())).ToArray()),
                    ["bwt_mean"] = r.BwtMean,
                    ["bwt_max"] = r.BwtMax,
                    ["avg_ppl"] = r.AveragePerplexity,
                }).ToArray()),
                ["aggregate"] = new JsonObject
                {
                    ["avg_ppl"] = Aggregate(c.AveragePerplexity),
                    ["bwt_mean"] = Aggregate(c.BwtMean),
                    ["bwt_max"] = Aggregate(c.BwtMax),
                },
            }).ToArray()),
        };
    }

    /// <summary>The comparison table, in Markdown: one row per method/strategy.</summary>
    public static string Table(BenchResult bench)
    {
        var md = new StringBuilder();
        md.AppendLine("| method | strategy | avg ppl (mean) | avg ppl (worst) | BWT mean (mean) | BWT mean (worst) | BWT max (mean) | BWT max (worst) |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var c in bench.Combinations)
        {
            var cells = new[] { c.AveragePerplexity, c.BwtMean, c.BwtMax }.SelectMany(a => new[] { F(a.Mean), F(a.Worst) });
            md.AppendLine($"| {Metrics.NameOf(c.Settings.Method)} | {StrategyName(c.Settings)} | " + string.Join(" | ", cells) + " |");
        }

        return md.ToString();
    }

    private static JsonObject Settings(PruningSettings s, ComputeOptions compute, int threads)
    {
        var settings = new JsonObject { ["threads"] = threads };
        PruneReport.AddSettings(settings, s, compute);
        return settings;
    }

    public static string Markdown(BenchResult bench, string model)
    {
        var s = bench.Combinations[0].Settings;
        var orders = bench.Combinations[0].Runs.Count;
        var md = new StringBuilder();
        md.AppendLine($"# Copal bench over {orders} orders of {string.Join(", ", bench.Datasets)}");
        md.AppendLine();
        md.AppendLine($"Model `{model}`; sparsity {F(s.Mask.Sparsity)} (pattern {s.Mask.Pattern?.ToString() ?? "none"}); {s.Samples} samples of {s.SeqLen} tokens ({s.Sampling.ToString().ToLowerInvariant()}); evaluation windows {s.EvalWindows?.ToString(CultureInfo.InvariantCulture) ?? "all"}.");
        md.AppendLine("Each measure is given as its mean and its worst (maximum) over the orders; lower is better.");
        md.AppendLine();
        md.Append(Table(bench));
        md.AppendLine();
        md.AppendLine("Dense perplexity: " + string.Join(", ", bench.Dense.Select(r => $"{r.Dataset} {F(r.Perplexity)}")) + ".");
        foreach (var c in bench.Combinations)
        {
            md.AppendLine();
            md.AppendLine($"## {Metrics.NameOf(c.Settings.Method)} / {StrategyName(c.Settings)}");
            md.AppendLine();
            md.AppendLine($"Group {PruneReport.GroupName(c.Settings.Mask)}, propagation {c.Settings.Propagation.ToString().ToLowerInvariant()}.");
            md.AppendLine();
            md.AppendLine("| order | avg ppl | BWT mean | BWT max |");
            md.AppendLine("|---|---:|---:|---:|");
            foreach (var r in c.Runs)
            {
                md.AppendLine($"| {string.Join(" -> ", r.Order)} | {F(r.AveragePerplexity)} | {F(r.BwtMean)} | {F(r.BwtMax)} |");
            }
        }

        return md.ToString();
    }

    /// <summary>
    /// Charts next to the report: per method, BWT mean and max by strategy (REPORT.bwt-METHOD.png), and
    /// the average perplexity of every method and strategy (REPORT.avg-ppl.png).
    /// </summary>
    public static IReadOnlyList<string> Plot(string reportPath, BenchResult bench)
    {
        var files = new List<string>();
        var orders = bench.Combinations[0].Runs.Count;
        var methods = bench.Combinations.Select(c => c.Settings.Method).Distinct().ToList();
        var strategies = bench.Combinations.Select(c => c.Settings.Strategy).Distinct().ToList();
        foreach (var method in methods)
        {
            var rows = bench.Combinations.Where(c => c.Settings.Method == method).ToList();
            var path = Path.ChangeExtension(reportPath, $".bwt-{Metrics.NameOf(method)}.png");
            Plots.GroupedBars(
                path,
                $"Backward transfer: {Metrics.NameOf(method)} ({orders} orders)",
                rows.Select(c => StrategyName(c.Settings)).ToList(),
                ["BWT mean: mean", "BWT mean: worst", "BWT max: mean", "BWT max: worst"],
                rows.Select(c => new[] { c.BwtMean.Mean, c.BwtMean.Worst, c.BwtMax.Mean, c.BwtMax.Worst }).ToArray(),
                "perplexity increase on earlier datasets");
            files.Add(path);
        }

        var ppl = Path.ChangeExtension(reportPath, ".avg-ppl.png");
        Plots.GroupedBars(
            ppl,
            $"Average perplexity after the last stage (mean over {orders} orders)",
            methods.Select(Metrics.NameOf).ToList(),
            strategies.Select(s => s.ToString().ToLowerInvariant()).ToList(),
            methods.Select(m => strategies.Select(s => bench.Combinations.Single(c => c.Settings.Method == m && c.Settings.Strategy == s).AveragePerplexity.Mean).ToArray()).ToArray(),
            "average perplexity");
        files.Add(ppl);
        return files;
    }

    private static string StrategyName(PruningSettings s) => s.Strategy.ToString().ToLowerInvariant();

    private static JsonObject Aggregate(OverOrders a) => new() { ["mean"] = a.Mean, ["worst"] = a.Worst };

    private static JsonArray Strings(IEnumerable<string> items) => new(items.Select(i => (JsonNode?)i).ToArray());

    private static string F(double v) => v.ToString("F3", CultureInfo.InvariantCulture);
}
