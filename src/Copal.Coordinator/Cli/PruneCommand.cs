using System.CommandLine;
using Copal.Coordinator.Cluster;
using Copal.Coordinator.Reporting;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Pruning;
using Copal.Runs;
using Copal.Tokenization;
using Serilog;

namespace Copal.Coordinator.Cli;

/// <summary>`copal prune`: a continual pruning run over a dataset sequence, in one process.</summary>
public static class PruneCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var data = CommonOptions.Data();
        var datasets = CommonOptions.Datasets("the dataset sequence D1,D2,... (default: fiction,science,speech)");
        var method = new Option<string>("--method") { Description = "copal, wanda, magnitude or sparsegpt", DefaultValueFactory = _ => "copal" };
        var strategy = new Option<string?>("--strategy") { Description = "copal, reset or sequential (default: copal for copal, reset for the baselines)" };
        var seqLen = CommonOptions.SeqLen();
        var evalWindows = CommonOptions.EvalWindows();
        var output = new Option<string>("--out") { Description = "output directory for stage checkpoints and reports", DefaultValueFactory = _ => Copal.Cluster.EnvironmentVariables.Get(Copal.Cluster.EnvironmentVariables.RunDir) ?? "copal-out" };
        var force = new Option<bool>("--force") { Description = "write into an existing non-empty --out" };
        var report = CommonOptions.Report();
        var dtype = CommonOptions.DType();
        var batch = CommonOptions.BatchSize();
        var threads = CommonOptions.Threads();
        var pruneOptions = new PruneOptions();
        var clusterOptions = new ClusterCliOptions();
        var command = new Command("prune", "Continually prune a model over a sequence of datasets")
        {
            model, data, datasets, method, strategy, seqLen, evalWindows, output, force, report, dtype, batch, threads,
        };
        foreach (var o in pruneOptions.All.Concat(clusterOptions.All))
        {
            command.Options.Add(o);
        }

        command.SetAction(result =>
        {
            var compute = CommonOptions.Compute(result.GetValue(dtype)!, result.GetValue(batch), result.GetValue(threads));
            var names = CommonOptions.ParseList(result.GetValue(datasets), Bundled.PruneDatasets, "--datasets");
            var m = PruneOptions.ParseMethod(result.GetValue(method)!);
            var s = result.GetValue(strategy) is { } st ? PruneOptions.ParseStrategy(st) : m == PruningMethod.Copal ? Strategy.Copal : Strategy.Reset;
            using var health = Copal.Observability.HealthServer.Start(result.GetValue(clusterOptions.MetricsPort));
            Copal.Observability.LogFields.RunId ??= Path.GetFileName(Path.GetFullPath(result.GetValue(output)!));
            using var llama = LlamaModel.Open(result.GetValue(model)!);
            var length = ModelEvaluator.ResolveSeqLen(llama.Config, result.GetValue(seqLen));
            var settings = pruneOptions.Settings(result, m, s, length, result.GetValue(evalWindows));
            var job = new PruneJob(llama, new DataDirectory(result.GetValue(data)!), settings, compute);
            return job.Run(names, result.GetValue(output)!, result.GetValue(force), result.GetValue(report), clusterOptions.Parse(result, result.GetValue(threads)));
        });
        return command;
    }
}

/// <summary>One validated run: checks, output directory, progress, reports.</summary>
public sealed class PruneJob(LlamaModel model, DataDirectory data, PruningSettings settings, ComputeOptions compute)
{
    /// <param name="resume">Continue the run already in <paramref name="outDir"/> from its journal.</param>
    public int Run(IReadOnlyList<string> datasets, string outDir, bool force, string? reportPath, ClusterOptions? cluster = null, bool resume = false)
    {
        ClusterSession? session = null;
        try
        {
            return Run(datasets, outDir, force, reportPath, cluster, resume, () => session ??= new ClusterSession(cluster!));
        }
        finally
        {
            session?.Dispose();
        }
    }

    private int Run(IReadOnlyList<string> datasets, string outDir, bool force, string? reportPath, ClusterOptions? cluster, bool resume, Func<ClusterSession> session)
    {
        var tokenizer = SentencePieceTokenizer.Load(model.TokenizerPath);
        var pipelines = new List<ClusterPipeline>();
        Func<Pipeline.IPruningPipeline>? factory = cluster is null ? null : () =>
        {
            var pipeline = session().CreatePipeline(model, settings, compute);
            pipelines.Add(pipeline);
            return pipeline;
        };
        using var pruner = new ContinualPruner(model, data, tokenizer, settings, compute, factory);
        pruner.Preflight(datasets);
        if (!resume)
        {
            OutputDirectory.Prepare(outDir, force);
            File.Delete(Path.Combine(outDir, RunJournal.FileName));
            new RunSpec(Path.GetFullPath(model.Directory), Path.GetFullPath(data.Path), datasets, settings, compute).Save(outDir);
        }

        reportPath ??= Path.Combine(outDir, "report.json");
        Cli.ReportWriter.CheckWritable(reportPath);

        Log.Information("Pruning {Model}: {Method}/{Strategy} at {Sparsity} over {Datasets} into {Out}", model.Directory, settings.Method, settings.Strategy, settings.Mask.Pattern?.ToString() ?? settings.Mask.Sparsity.ToString(), datasets, outDir);
        var journal = RunJournal.Open(outDir);
        var run = ConsoleProgress.Run(progress => pruner.Run(datasets, outDir, progress, journal: journal));
        var activity = pipelines.Count == 0 ? null : PruneReport.ClusterActivity(pipelines, session().UnreachableEvents);
        var markdown = WriteReports(reportPath, datasets, run, activity);
        Console.Write(markdown);
        Log.Information("Report written to {Report}", reportPath);
        return 0;
    }

    /// <summary>Writes a run's JSON report, its Markdown (.md) and perplexity heatmap (.perplexity.png); returns the Markdown.</summary>
    public string WriteReports(string reportPath, IReadOnlyList<string> datasets, PruneRunResult run, System.Text.Json.Nodes.JsonObject? cluster = null)
    {
        var json = PruneReport.Json(Path.GetFullPath(model.Directory), settings, datasets, run, compute);
        json["cluster"] = cluster;
        Cli.ReportWriter.WriteJson(reportPath, json);
        var markdown = PruneReport.Markdown(json, datasets);
        AtomicFile.WriteAllText(Path.ChangeExtension(reportPath, ".md"), markdown);
        Plots.Heatmap(
            Path.ChangeExtension(reportPath, ".perplexity.png"),
            $"Perplexity: {PruneReport.MethodName(settings.Method)} / {settings.Strategy.ToString().ToLowerInvariant()}",
            run.Stages.Select(st => $"after {st.Dataset}").ToList(),
            datasets,
            run.Matrix);
        return markdown;
    }
}

/// <summary>Output directory rules: never write into someone's non-empty folder unless told to.</summary>
public static class OutputDirectory
{
    public static void Prepare(string path, bool force)
    {
        if (File.Exists(path))
        {
            throw new CopalInputException($"--out {path}: is a file");
        }

        if (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any() && !force)
        {
            throw new CopalInputException($"--out {path}: directory exists and is not empty (use --force to write into it)");
        }

        Directory.CreateDirectory(path);
    }
}
