using System.CommandLine;
using Copal.Coordinator.Reporting;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Runs;
using Copal.Tokenization;
using Serilog;

namespace Copal.Coordinator.Cli;

/// <summary>
/// `copal bench`: every method x strategy over every order of the datasets, compared by average
/// perplexity and backward transfer (mean and worst over the orders), as the paper's claim is judged.
/// </summary>
public static class BenchCommand
{
    public static readonly string[] DefaultMethods = ["copal", "wanda"];

    public static readonly string[] DefaultStrategies = ["copal", "reset", "sequential"];

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var data = CommonOptions.Data();
        var datasets = CommonOptions.Datasets("the datasets D1,D2,...; every order of them is run (default: fiction,science,speech)");
        var methods = new Option<string?>("--methods") { Description = "comma-separated methods: copal, wanda, magnitude, sparsegpt (default: copal,wanda)" };
        var strategies = new Option<string?>("--strategies") { Description = "comma-separated strategies: copal, reset, sequential (default: all three)" };
        var seqLen = CommonOptions.SeqLen();
        var evalWindows = CommonOptions.EvalWindows();
        var output = new Option<string>("--out") { Description = "output directory: OUT/<method>-<strategy>/<order>/ per run, and the bench report", Required = true };
        var force = new Option<bool>("--force") { Description = "write into an existing non-empty --out" };
        var report = new Option<string?>("--report") { Description = "write the JSON bench report to this file (default: OUT/bench.json)" };
        var dtype = CommonOptions.DType();
        var batch = CommonOptions.BatchSize();
        var threads = CommonOptions.Threads();
        var pruneOptions = new PruneOptions();
        var command = new Command("bench", "Compare pruning methods and continual strategies over every order of a dataset sequence")
        {
            model, data, datasets, methods, strategies, seqLen, evalWindows, output, force, report, dtype, batch, threads,
        };
        foreach (var o in pruneOptions.All)
        {
            command.Options.Add(o);
        }

        command.Subcommands.Add(PerfCommand.Create());
        command.SetAction(result =>
        {
            var compute = CommonOptions.Compute(result.GetValue(dtype)!, result.GetValue(batch), result.GetValue(threads));
            var names = CommonOptions.ParseDatasets(result.GetValue(datasets), Bundled.PruneDatasets);
            var methodList = CommonOptions.ParseList(result.GetValue(methods), DefaultMethods, "--methods").Select(Metrics.Parse).ToList();
            var strategyList = CommonOptions.ParseList(result.GetValue(strategies), DefaultStrategies, "--strategies").Select(PruneOptions.ParseStrategy).ToList();
            using var llama = LlamaModel.Open(result.GetValue(model)!);
            var length = ModelEvaluator.ResolveSeqLen(llama.Config, result.GetValue(seqLen));
            var combinations = methodList
                .SelectMany(m => strategyList.Select(s => pruneOptions.Settings(result, m, s, length, result.GetValue(evalWindows))))
                .ToList();
            var job = new BenchJob(llama, new DataDirectory(result.GetValue(data)!), combinations, compute, result.GetValue(threads) ?? Environment.ProcessorCount);
            return job.Run(names, result.GetValue(output)!, result.GetValue(force), result.GetValue(report));
        });
        return command;
    }
}

/// <summary>One continual run of a bench: a method/strategy over one order of the datasets.</summary>
public sealed record BenchRun(IReadOnlyList<string> Order, string Directory, double[][] Perplexity)
{
    public double BwtMean => ContinualMetrics.BwtMean(Perplexity);

    public double BwtMax => ContinualMetrics.BwtMax(Perplexity);

    public double AveragePerplexity => ContinualMetrics.AveragePerplexity(Perplexity);
}

/// <summary>Mean and worst (maximum: higher is worse) of one measure over the orders.</summary>
public readonly record struct OverOrders(double Mean, double Worst)
{
    public static OverOrders Of(IEnumerable<double> values)
    {
        var list = values.ToList();
        return new OverOrders(list.Average(), list.Max());
    }
}

/// <summary>All the orders of one method/strategy, and their aggregates.</summary>
public sealed record BenchCombination(PruningSettings Settings, string Directory, IReadOnlyList<BenchRun> Runs)
{
    public string Name => BenchJob.CombinationName(Settings);

    public OverOrders AveragePerplexity => OverOrders.Of(Runs.Select(r => r.AveragePerplexity));

    public OverOrders BwtMean => OverOrders.Of(Runs.Select(r => r.BwtMean));

    public OverOrders BwtMax => OverOrders.Of(Runs.Select(r => r.BwtMax));
}

/// <summary>The results of a whole bench.</summary>
public sealed record BenchResult(IReadOnlyList<string> Datasets, IReadOnlyList<PerplexityResult> Dense, IReadOnlyList<BenchCombination> Combinations);

/// <summary>A validated bench: checks everything first, then runs each combination over each order.</summary>
public sealed class BenchJob(LlamaModel model, DataDirectory data, IReadOnlyList<PruningSettings> combinations, ComputeOptions compute, int threads)
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
        var tokenizer = TokenizerFiles.Load(model);
        var pruners = combinations.Select(s => new ContinualPruner(model, data, tokenizer, s, compute)).ToList();
        try
        {
            foreach (var pruner in pruners)
            {
                pruner.Preflight(datasets);
            }

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
                    var job = new PruneJob(model, data, settings, compute);
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
