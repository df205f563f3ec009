using System.CommandLine;
using Copal.Coordinator.Cli.Hosting;
using Copal.Coordinator.Cli.Jobs;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Pruning.Metrics;

namespace Copal.Coordinator.Cli.Bench;

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
        var text = new TextOptions();
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
            model, datasets, methods, strategies, seqLen, evalWindows, output, force, report, dtype, batch, threads,
        };
        foreach (var o in text.All.Concat(pruneOptions.All))
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
            var job = new BenchJob(llama, text.Directory(result), text.TokenizerPath(result), combinations, compute, result.GetValue(threads) ?? Environment.ProcessorCount);
            return job.Run(names, result.GetValue(output)!, result.GetValue(force), result.GetValue(report));
        });
        return command;
    }
}
