using System.CommandLine;
using Copal.Coordinator.Cli.Hosting;
using Copal.Data;
using Copal.Model;
using Copal.Runs;
using Serilog;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>`copal resume RUN_DIR`: finishes a run from its last committed stage.</summary>
public static class ResumeCommand
{
    public static Command Create()
    {
        var runDir = new Argument<string>("RUN_DIR") { Description = "the --out directory of the run" };
        var report = CommonOptions.Report();
        var clusterOptions = new ClusterCliOptions();
        var command = new Command("resume", "Continue a run from its journal: committed, verified stages are kept, the rest recomputed") { runDir, report };
        foreach (var o in clusterOptions.All)
        {
            command.Options.Add(o);
        }

        command.SetAction(result =>
        {
            var directory = result.GetValue(runDir)!;
            return Continue(result, directory, RunSpec.Load(directory), clusterOptions, report, extend: false);
        });
        return command;
    }

    /// <summary>
    /// Runs <paramref name="spec"/> on in <paramref name="directory"/> from its journal, in this
    /// process or on the cluster: resume and extend take this one path.
    /// </summary>
    /// <param name="extend">The spec lists datasets the run's run.json does not yet: it is saved before the first new stage.</param>
    public static int Continue(ParseResult result, string directory, RunSpec spec, ClusterCliOptions clusterOptions, Option<string?> report, bool extend)
    {
        TorchSharp.torch.set_num_threads(Environment.ProcessorCount);
        using var model = LlamaModel.Open(spec.ModelDirectory);
        spec.CheckModel(model.Config, directory);
        if (!extend)
        {
            // An extension's refusals (a new dataset without its splits) stay one line: it logs once they are passed.
            Log.Information("Resuming {Run}", directory);
        }

        var job = new PruneJob(model, new DataDirectory(spec.DataDirectory, spec.TextField), spec.Tokenizer, spec.Settings, spec.Compute, spec.Store, spec.KeepAccumulators);
        var hosting = new JobHosting(clusterOptions.Parse(result), result.GetValue(clusterOptions.MetricsPort));
        return job.Run(spec.Datasets, new JobTarget(directory, Force: true, result.GetValue(report), Resume: true, extend), hosting);
    }
}
