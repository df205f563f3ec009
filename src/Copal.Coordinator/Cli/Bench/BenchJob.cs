using Copal.Coordinator.Cli.Hosting;
using Copal.Coordinator.Cli.Jobs;
using Copal.Coordinator.Reporting;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Runs;
using Copal.Tokenization;
using Serilog;
using Serilog.Events;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>A validated bench: checks everything first, then runs each combination over each order.</summary>
public sealed class BenchJob(LlamaModel model, DataDirectory data, string? tokenizerPath, IReadOnlyList<PruningSettings> combinations, ComputeOptions compute, int threads)
{
    private const string RunsTask = "bench runs";

    public static string CombinationName(PruningSettings s) => $"{Metrics.NameOf(s.Method)}-{s.Strategy.ToString().ToLowerInvariant()}";

    public static string OrderName(IReadOnlyList<string> order) => string.Join('-', order);

    /// <summary>Every permutation of <paramref name="datasets"/>, starting with the given order.</summary>
    public static IReadOnlyList<IReadOnlyList<string>> Orders(IReadOnlyList<string> datasets)
    {
        if (datasets.Count <= 1)
        {
            return [datasets.ToList()];
        }

        var orders = new List<IReadOnlyList<string>>();
        for (var i = 0; i < datasets.Count; i++)
        {
            var rest = datasets.Where((_, j) => j != i).ToList();
            foreach (var tail in Orders(rest))
            {
                orders.Add([datasets[i], .. tail]);
            }
        }

        return orders;
    }

    public int Run(IReadOnlyList<string> datasets, string outDir, bool force, string? reportPath)
    {
        // Everything is checked before anything is written: settings were checked when parsed,
        // here the data, the masks against the model, the report path and the output directory.
        var tokenizer = TokenizerFiles.Load(model, tokenizerPath);
        var pruners = combinations.Select(s => new ContinualPruner(model, data, tokenizer, s, compute)).ToList();
        try
        {
            ConsoleProgress.Run(progress =>
            {
                pruners.ForEach(p => p.Preflight(datasets, progress));
                return true;
            }, LogEventLevel.Debug);

            ReportWriter.CheckWritable(reportPath);
            using var outLock = OutputDirectory.Prepare(outDir, force);
            if (reportPath is null)
            {
                // The default path could be checked only once --out existed.
                reportPath = Path.Combine(outDir, "bench.json");
                ReportWriter.CheckWritable(reportPath);
            }

            var orders = Orders(datasets);
            var total = combinations.Count * orders.Count;
            Log.Information(
                "Bench of {Model}: {Combinations} over {Orders} orders of {Datasets} ({Runs} runs) into {Out}",
                model.Directory,
                combinations.Select(CombinationName),
                orders.Count,
                datasets,
                total,
                outDir);

            var result = ConsoleProgress.Run(progress =>
            {
                // The dense model is the same in every run: measured once, shared by all.
                var first = combinations[0];
                var dense = new ModelEvaluator(model, data, tokenizer, first.SeqLen, first.EvalWindows, compute).Evaluate(datasets, progress: progress);
                var done = 0;
                progress.Report(new WorkProgress(RunsTask, done, total));
                var results = new List<BenchCombination>();
                foreach (var (settings, pruner) in combinations.Zip(pruners))
                {
                    var job = new PruneJob(model, data, tokenizerPath, settings, compute);
                    var comboDir = Path.Combine(outDir, CombinationName(settings));
                    var runs = new List<BenchRun>();
                    foreach (var order in orders)
                    {
                        var runDir = Path.Combine(comboDir, OrderName(order));
                        Directory.CreateDirectory(runDir);
                        Log.Information("Run {Run}/{Total}: {Combination} over {Order}", done + 1, total, CombinationName(settings), order);
                        var run = pruner.Run(order, runDir, progress, knownDense: dense);
                        job.WriteReports(Path.Combine(runDir, "report.json"), order, run);
                        runs.Add(new BenchRun(order, runDir, run.Matrix));
                        progress.Report(new WorkProgress(RunsTask, ++done, total));
                    }

                    results.Add(new BenchCombination(settings, comboDir, runs));
                }

                return new BenchResult(datasets, dense, results);
            });

            var json = BenchReport.Json(Path.GetFullPath(model.Directory), result, compute, threads);
            ReportWriter.WriteJson(reportPath, json);
            AtomicFile.WriteAllText(Path.ChangeExtension(reportPath, ".md"), BenchReport.Markdown(result, Path.GetFullPath(model.Directory)));
            BenchReport.Plot(reportPath, result);
            Console.Write(BenchReport.Table(result));
            Log.Information("Bench report written to {Report}", reportPath);
            return 0;
        }
        finally
        {
            pruners.ForEach(p => p.Dispose());
        }
    }
}
