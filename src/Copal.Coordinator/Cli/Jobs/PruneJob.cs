using Copal.Coordinator.Cli.Hosting;
using Copal.Coordinator.Cluster;
using Copal.Coordinator.Reporting;
using Copal.Data;
using Copal.Model;
using Copal.Observability;
using Copal.Pipeline;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Runs;
using Copal.Stages;
using Copal.Tokenization;
using Serilog;
using Serilog.Events;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>One validated run: checks, output directory, progress, status, reports.</summary>
/// <param name="tokenizerPath">A tokenizer given instead of the checkpoint's own, or null.</param>
/// <param name="keepAccumulators">Keep every stage's accumulator, not only the latest committed one's.</param>
public sealed class PruneJob(LlamaModel model, DataDirectory data, string? tokenizerPath, PruningSettings settings, ComputeOptions compute, StageStore store = StageStore.Full, bool keepAccumulators = false)
{
    public RunSpec Spec(IReadOnlyList<string> datasets) => new(Path.GetFullPath(model.Directory), Path.GetFullPath(data.Path), datasets, settings, compute, tokenizerPath, data.TextField, store, keepAccumulators);

    public int Run(IReadOnlyList<string> datasets, JobTarget target, JobHosting hosting)
    {
        OutputDirectory.CheckPath(target.OutDir);
        LogFields.RunId ??= Path.GetFileName(Path.GetFullPath(target.OutDir));
        ClusterSession? session = null;
        var status = new LiveRun(target.OutDir, () => session);
        using var health = HealthServer.Start(hosting.MetricsPort, () => hosting.Cluster is null || status.Finished || session is { IsUp: true }, status.Json);
        try
        {
            int code;
            using (StopSignals.ExitDuringRun(target.OutDir))
            {
                code = Run(datasets, target, hosting.Cluster, () => session ??= new ClusterSession(hosting.Cluster!, () => ProcessStop.Exit(1)), status);
            }

            status.Finished = true;
            if (hosting.Linger)
            {
                Linger();
            }

            return code;
        }
        finally
        {
            session?.Dispose();
        }
    }

    private int Run(IReadOnlyList<string> datasets, JobTarget target, ClusterOptions? cluster, Func<ClusterSession> session, LiveRun status)
    {
        var tokenizer = TokenizerFiles.Load(model, tokenizerPath);
        var pipelines = new List<ClusterPipeline>();
        var runId = LogFields.RunId!;
        IPruningPipeline CreatePipeline()
        {
            if (cluster is null)
            {
                return new LocalPipeline(model, settings, compute);
            }

            var pipeline = session().CreatePipeline(model, settings, compute, runId);
            pipelines.Add(pipeline);
            return pipeline;
        }

        using var pruner = new ContinualPruner(model, data, tokenizer, settings, compute, () => status.Stage.Track(CreatePipeline())) { Store = store, KeepAccumulators = keepAccumulators };
        var committed = target.Resume ? RunJournal.Read(target.OutDir).CommittedPrefix(datasets) : 0;
        ConsoleProgress.Run(progress => { pruner.Preflight(datasets, progress, committed); return true; }, LogEventLevel.Debug);
        ReportWriter.CheckWritable(target.ReportPath);
        var outDir = target.OutDir;
        using var runLock = target.Resume ? RunLock.Acquire(outDir) : OutputDirectory.Prepare(outDir, target.Force);
        if (!target.Resume)
        {
            File.Delete(Path.Combine(outDir, RunJournal.FileName));
        }

        // An extension records its longer sequence before its first stage: a crash in it resumes like any other.
        if (!target.Resume || target.Extend)
        {
            Spec(datasets).Save(outDir);
        }

        var reportPath = target.ReportPath ?? Path.Combine(outDir, "report.json");

        Log.Information("Pruning {Model}: {Method}/{Strategy} at {Sparsity} over {Datasets} into {Out}", model.Directory, settings.Method, settings.Strategy, settings.Mask.Pattern?.ToString() ?? settings.Mask.Sparsity.ToString(), datasets, outDir);
        var journal = RunJournal.Open(outDir);
        status.Started = true;
        var run = ConsoleProgress.Run(progress => pruner.Run(datasets, outDir, progress, stageDone: status.Stage.Finished, journal: journal));
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
        ReportWriter.WriteJson(reportPath, json);
        var markdown = PruneReport.Markdown(json, datasets);
        AtomicFile.WriteAllText(Path.ChangeExtension(reportPath, ".md"), markdown);
        Plots.Heatmap(
            Path.ChangeExtension(reportPath, ".perplexity.png"),
            $"Perplexity: {Metrics.NameOf(settings.Method)} / {settings.Strategy.ToString().ToLowerInvariant()}",
            run.Stages.Select(st => $"after {st.Dataset}").ToList(),
            datasets,
            run.Matrix);
        return markdown;
    }

    private static void Linger()
    {
        using var stop = new ManualResetEventSlim();
        using var signals = StopSignals.Calling(stop.Set);
        Log.Information("Run finished; staying up for status and metrics until stopped (--linger)");
        stop.Wait();
        Log.Information("Stopping");
    }
}
