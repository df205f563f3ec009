using System.CommandLine;
using Copal.Cluster;
using Copal.Coordinator.Cli.Hosting;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Runs;
using Copal.Stages;
using Serilog;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>`copal prune`: a continual pruning run over a dataset sequence, in one process.</summary>
public static class PruneCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var text = new TextOptions();
        var datasets = CommonOptions.Datasets("the dataset sequence D1,D2,... (default: fiction,science,speech)");
        var method = new Option<string>("--method") { Description = "copal, wanda, magnitude or sparsegpt", DefaultValueFactory = _ => "copal" };
        var strategy = new Option<string?>("--strategy") { Description = "copal, reset or sequential (default: copal for copal, reset for the baselines)" };
        var seqLen = CommonOptions.SeqLen();
        var evalWindows = CommonOptions.EvalWindows();
        var output = new Option<string>("--out") { Description = "output directory for stage checkpoints and reports", DefaultValueFactory = _ => Copal.Cluster.EnvironmentVariables.Get(Copal.Cluster.EnvironmentVariables.RunDir) ?? "copal-out" };
        var force = new Option<bool>("--force") { Description = "write into an existing non-empty --out" };
        var resumeExisting = new Option<bool>("--resume-existing") { Description = $"if --out holds a run with these settings, continue it (as copal resume does) instead of refusing: a restarted coordinator picks up its run [env {EnvironmentVariables.Resume}]", DefaultValueFactory = _ => EnvironmentVariables.Flag(EnvironmentVariables.Resume) };
        var linger = new Option<bool>("--linger") { Description = $"after the run, stay up (status, metrics) until stopped [env {EnvironmentVariables.Linger}]", DefaultValueFactory = _ => EnvironmentVariables.Flag(EnvironmentVariables.Linger) };
        var keepAccumulators = new Option<bool>("--keep-accumulators") { Description = "keep every stage's accumulator files (default: only the latest committed stage's, what continuing needs)" };
        var report = CommonOptions.Report();
        var dtype = CommonOptions.DType();
        var batch = CommonOptions.BatchSize();
        var threads = CommonOptions.Threads();
        var pruneOptions = new PruneOptions();
        var clusterOptions = new ClusterCliOptions();
        var command = new Command("prune", "Continually prune a model over a sequence of datasets")
        {
            model, datasets, method, strategy, seqLen, evalWindows, output, force, resumeExisting, linger, keepAccumulators, report, dtype, batch, threads, pruneOptions.Store,
        };
        foreach (var o in text.All.Concat(pruneOptions.All).Concat(clusterOptions.All))
        {
            command.Options.Add(o);
        }

        command.SetAction(result =>
        {
            var compute = CommonOptions.Compute(result.GetValue(dtype)!, result.GetValue(batch), result.GetValue(threads));
            var names = CommonOptions.ParseDatasets(result.GetValue(datasets), Bundled.PruneDatasets);
            var m = Metrics.Parse(result.GetValue(method)!);
            var s = result.GetValue(strategy) is { } st ? PruneOptions.ParseStrategy(st) : Metrics.Describe(m).DefaultStrategy;
            var store = StageStores.Parse(result.GetValue(pruneOptions.Store)!);
            using var llama = LlamaModel.Open(result.GetValue(model)!);
            var length = ModelEvaluator.ResolveSeqLen(llama.Config, result.GetValue(seqLen));
            var settings = pruneOptions.Settings(result, m, s, length, result.GetValue(evalWindows));
            var job = new PruneJob(llama, text.Directory(result), text.TokenizerPath(result), settings, compute, store, result.GetValue(keepAccumulators));
            var outDir = result.GetValue(output)!;
            var resume = result.GetValue(resumeExisting) && ExistingRun(outDir, job.Spec(names));
            var target = new JobTarget(outDir, result.GetValue(force), result.GetValue(report), resume);
            var hosting = new JobHosting(clusterOptions.Parse(result), result.GetValue(clusterOptions.MetricsPort), result.GetValue(linger));
            return job.Run(names, target, hosting);
        });
        return command;
    }

    /// <summary>True when <paramref name="outDir"/> holds a run of exactly <paramref name="spec"/>; an error when it holds another.</summary>
    private static bool ExistingRun(string outDir, RunSpec spec)
    {
        if (!File.Exists(Path.Combine(outDir, RunSpec.FileName)))
        {
            return false;
        }

        var existing = RunSpec.Load(outDir);
        if (CopalJson.Serialize(existing) != CopalJson.Serialize(spec))
        {
            throw new CopalInputException($"--out {outDir} holds a run with other settings ({RunSpec.FileName}); use another --out, or `copal resume {outDir}` to finish that one");
        }

        Log.Information("{Out} holds this run: resuming it", outDir);
        return true;
    }
}
