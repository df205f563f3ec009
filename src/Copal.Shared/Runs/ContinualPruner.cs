using System.Diagnostics;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Observability;
using Copal.Pipeline;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Stages;
using Copal.Tokenization;
using Serilog;

namespace Copal.Runs;

public sealed record StageResult(
    int Stage,
    string Dataset,
    string Checkpoint,
    double Seconds,
    double EvalSeconds,
    IReadOnlyList<PerplexityResult> Perplexity,
    SparsityReport Sparsity,
    IReadOnlyList<ShardFile> Shards,
    IReadOnlyList<ShardFile> Importance,
    long BytesWritten);

public sealed record PruneRunResult(IReadOnlyList<PerplexityResult> Dense, IReadOnlyList<StageResult> Stages)
{
    /// <summary>P[stage][dataset], datasets in run order; NaN where the dataset's test split was not found.</summary>
    public double[][] Matrix => Stages.Select(s => Stages.Select(d => PerplexityOn(s.Perplexity, d.Dataset)).ToArray()).ToArray();

    /// <summary>The perplexity measured on <paramref name="dataset"/>, or NaN when it was not measured.</summary>
    public static double PerplexityOn(IEnumerable<PerplexityResult> results, string dataset) =>
        results.FirstOrDefault(r => r.Dataset == dataset)?.Perplexity ?? double.NaN;
}

/// <summary>
/// A continual pruning run: for each dataset of the sequence, feed calibration micro-batches to
/// the pipeline's shards, let them prune and write their layers, complete the stage checkpoint,
/// and evaluate every dataset on it. The pipeline decides where the shards run.
/// </summary>
/// <param name="pipelineFactory">Makes the pipeline on first use (after preflight checks); null: in this process.</param>
public sealed class ContinualPruner(LlamaModel model, DataDirectory data, ITokenizer tokenizer, PruningSettings settings, ComputeOptions compute, Func<IPruningPipeline>? pipelineFactory = null) : IDisposable
{
    private readonly IImportanceMetric metric = Metrics.For(settings);
    private readonly Dictionary<(string, Split), int[]> tokens = new();
    private IPruningPipeline? pipelineInstance;

    private IPruningPipeline Pipeline => pipelineInstance ??= pipelineFactory?.Invoke() ?? new LocalPipeline(model, settings, compute);

    /// <summary>What stage directories hold of the weights asked for (`--store`).</summary>
    public StageStore Store { get; init; } = StageStore.Full;

    /// <summary>What they hold: a method that changes the weights it keeps has them stored in full whatever was asked.</summary>
    private StageStore EffectiveStore => metric.ChangesWeights ? StageStore.Full : Store;

    /// <summary>Checks everything a run needs before anything is written: splits, lengths, mask shapes.</summary>
    /// <param name="progress">Told how much of each split file has been read.</param>
    /// <param name="committed">How many stages from the first are committed already: their datasets need no calibration split, and their test splits are optional (reported missing).</param>
    public void Preflight(IReadOnlyList<string> datasets, IProgress<WorkProgress>? progress = null, int committed = 0)
    {
        var pending = datasets.Skip(committed).ToList();
        data.Require(pending, Split.Calib, Split.Test);
        foreach (var missing in datasets.Take(committed).Where(d => !data.Has(d, Split.Test)))
        {
            Log.Warning("Dataset {Dataset}: no test split in {Data}; its perplexity is reported as missing", missing, data.Path);
        }

        foreach (var linear in LlamaLinear.All)
        {
            settings.Mask.Check(linear.Module, linear.Shape(model.Config)[1]);
        }

        if (EffectiveStore == StageStore.Masks)
        {
            MaskShardWriter.CheckExact(model, compute.DType);
        }

        if (metric.UsesCalibration)
        {
            foreach (var d in pending)
            {
                var calibration = Tokens(d, Split.Calib, progress);
                if (calibration.Length < settings.SeqLen)
                {
                    throw new CopalInputException($"dataset '{d}': the calibration split has {calibration.Length} tokens, fewer than one sample of {settings.SeqLen}");
                }
            }
        }
    }

    /// <summary>
    /// Keep every stage's accumulator. Otherwise a journaled run keeps only the latest committed
    /// stage's: what continuing needs. Without a journal nothing is dropped (nothing records it).
    /// </summary>
    public bool KeepAccumulators { get; init; }

    /// <summary>
    /// Runs every stage. <paramref name="knownDense"/>, when given, is the dense model's perplexity on
    /// these datasets already measured with the same length, windows and compute options (in any
    /// order), so it is not evaluated again. With a <paramref name="journal"/>, the committed
    /// stages it verifies are reused and only the (stage, dataset) perplexities it lacks are
    /// measured: an extended run evaluates its earlier stages on the new datasets only.
    /// </summary>
    public PruneRunResult Run(IReadOnlyList<string> datasets, string outDir, IProgress<WorkProgress>? progress = null, Action<StageResult>? stageDone = null, IReadOnlyList<PerplexityResult>? knownDense = null, RunJournal? journal = null)
    {
        var dense = knownDense is null
            ? Completed(journal?.Last(JournalEntry.DenseEvaluated, 0)?.Perplexity, null, datasets, progress, "dense evaluation").Results
            : datasets.Select(d => knownDense.Single(r => r.Dataset == d)).ToList();
        journal?.Append(new JournalEntry(JournalEntry.DenseEvaluated, 0, Perplexity: dense));
        Log.Information("Dense perplexity: {Perplexity}", dense.ToDictionary(r => r.Dataset, r => Math.Round(r.Perplexity, 4)));

        var stages = new List<StageResult>();
        var reused = journal is null ? [] : ReusableChain(journal, datasets, outDir);
        foreach (var (dataset, index) in datasets.Select((d, i) => (d, i + 1)))
        {
            var stage = index <= reused.Count ? reused[index - 1] : null;
            CopalMetrics.StageBegun(index);
            if (stage is null)
            {
                journal?.Append(new JournalEntry(JournalEntry.StageStarted, index, dataset));
                var stageProgress = new StageProgress(progress);
                stage = WithRetries(() => RunStage(index, dataset, stages.LastOrDefault(), outDir, stageProgress), $"stage {index} ({dataset})");
                journal?.Append(new JournalEntry(JournalEntry.StageCommitted, index, dataset, Files: CommittedFiles(stage), Seconds: stage.Seconds, Bytes: stage.BytesWritten));
                CopalMetrics.TokensPerSecond.Set(settings.Samples * (double)settings.SeqLen / Math.Max(1e-9, stage.Seconds));
            }

            CopalMetrics.StageFinished();
            if (journal != null && stages.Count > 0)
            {
                DropAccumulator(journal, stages[^1]);
            }

            var clock = Stopwatch.StartNew();
            var checkpoint = stage.Checkpoint;
            var (perplexity, measured) = Completed(stage.Perplexity, checkpoint, datasets, progress, $"evaluation of stage {index}");
            if (measured)
            {
                stage = stage with { Perplexity = perplexity, EvalSeconds = clock.Elapsed.TotalSeconds };
                journal?.Append(new JournalEntry(JournalEntry.StageEvaluated, index, dataset, Perplexity: stage.Perplexity, Seconds: stage.EvalSeconds));
            }

            Log.Information("Stage {Stage} ({Dataset}) done in {Seconds:F1}s: perplexity {Perplexity}", index, dataset, stage.Seconds, stage.Perplexity.ToDictionary(r => r.Dataset, r => Math.Round(r.Perplexity, 4)));
            stages.Add(stage);
            stageDone?.Invoke(stage);
        }

        journal?.Append(new JournalEntry(JournalEntry.RunCompleted, datasets.Count));
        return new PruneRunResult(dense, stages);
    }

    /// <summary>
    /// The stages to reuse: an unbroken chain of verified commits, as each stage builds on the last.
    /// Under the copal strategy the stage after the chain needs the chain's last accumulator: a
    /// chain ending in a dropped one is cut back to where the state can be rebuilt.
    /// </summary>
    private List<StageResult> ReusableChain(RunJournal journal, IReadOnlyList<string> datasets, string outDir)
    {
        var chain = new List<StageResult>();
        foreach (var (dataset, index) in datasets.Select((d, i) => (d, i + 1)))
        {
            if (Resumed(journal, index, dataset, Path.Combine(outDir, StageCheckpoint.DirectoryName(index, dataset))) is not { } stage)
            {
                break;
            }

            chain.Add(stage);
        }

        var kept = chain.Count;
        while (settings.Strategy == Strategy.Copal && chain.Count > 0 && chain.Count < datasets.Count && journal.AccumulatorDropped(chain[^1].Stage))
        {
            chain.RemoveAt(chain.Count - 1);
        }

        if (chain.Count < kept)
        {
            Log.Warning("Stage {Stage} must be recomputed but the accumulator of stage {Previous} was dropped; recomputing from stage {First}", kept + 1, kept, chain.Count + 1);
        }

        return chain;
    }

    /// <summary>
    /// Deletes the accumulator of a stage the next one has been committed on, journaled first: a
    /// crash between the two leaves files the next run deletes again, and the journal tells
    /// verification their absence is no damage.
    /// </summary>
    private void DropAccumulator(RunJournal journal, StageResult stage)
    {
        if (KeepAccumulators || stage.Importance.Count == 0)
        {
            return;
        }

        if (!journal.AccumulatorDropped(stage.Stage))
        {
            journal.Append(new JournalEntry(JournalEntry.AccumulatorDropped, stage.Stage, stage.Dataset, Files: stage.Importance.ToDictionary(f => f.FileName, f => f.Sha256)));
        }

        foreach (var file in stage.Importance)
        {
            File.Delete(Path.Combine(stage.Checkpoint, file.FileName));
        }
    }

    /// <summary>
    /// The checkpoint's perplexity on each dataset, in run order: what <paramref name="known"/>
    /// holds is kept, the rest measured. A dataset without a test split is left out (missing).
    /// </summary>
    private (IReadOnlyList<PerplexityResult> Results, bool Measured) Completed(IReadOnlyList<PerplexityResult>? known, string? checkpoint, IReadOnlyList<string> datasets, IProgress<WorkProgress>? progress, string what)
    {
        known ??= [];
        var missing = datasets.Where(d => known.All(r => r.Dataset != d) && data.Has(d, Split.Test)).ToList();
        var measured = missing.Count == 0 ? [] : WithRetries(() => Evaluate(checkpoint, missing, progress), what);
        var all = known.Concat(measured).ToList();
        return (datasets.SelectMany(d => all.Where(r => r.Dataset == d).Take(1)).ToList(), measured.Count > 0);
    }

    /// <summary>Passes progress on and shows the stage's share done as <see cref="CopalMetrics.StageProgress"/>.</summary>
    private sealed class StageProgress(IProgress<WorkProgress>? inner) : IProgress<WorkProgress>
    {
        public void Report(WorkProgress value)
        {
            CopalMetrics.StageProgress.Set(value.Total == 0 ? 0 : Math.Min(1, (double)value.Done / value.Total));
            inner?.Report(value);
        }
    }

    /// <summary>Attempts one pipeline may make before the run gives up.</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>
    /// Runs work on the pipeline; when the pipeline loses a part, it is rebuilt (the factory
    /// waits for nodes and plans again) and the work starts over from the last committed state.
    /// </summary>
    private T WithRetries<T>(Func<T> work, string what)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return work();
            }
            catch (PipelineFailedException e) when (attempt < MaxAttempts)
            {
                Log.Warning("{What} failed on attempt {Attempt}: {Reason}; restarting it on a new pipeline", what, attempt, e.Message);
                pipelineInstance?.Dispose();
                pipelineInstance = null;
            }
        }
    }

    private StageResult? Resumed(RunJournal journal, int index, string dataset, string directory)
    {
        var commit = journal.VerifiedCommit(index, dataset, directory, out var problem);

        // Commits of older versions did not cover the manifest: it is checked on its own.
        var manifest = commit is null ? null : StageCheckpoint.TryReadManifest(directory, out problem);
        if (commit is null || manifest is null)
        {
            if (problem != null)
            {
                Log.Warning("Stage {Stage}: {Problem}; recomputing it and every later stage", index, problem);
            }

            return null;
        }

        Log.Information("Stage {Stage} ({Dataset}) is committed and verified; reusing it", index, dataset);
        var evaluated = journal.Last(JournalEntry.StageEvaluated, index)?.Perplexity ?? [];

        // Journals of older versions did not record the bytes: the files on disk are what was written.
        var bytes = commit.Bytes ?? BytesIn(directory);
        return new StageResult(index, dataset, directory, commit.Seconds, 0, evaluated, manifest.Sparsity(), manifest.Shards, manifest.Importance, bytes);
    }

    /// <summary>Every file of the stage directory with its sha256: a stage is reused only as a whole, config, index and manifest included.</summary>
    private static Dictionary<string, string> CommittedFiles(StageResult stage)
    {
        var files = Directory.GetFiles(stage.Checkpoint).Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f), FileDigest.Sha256);

        // Committed only when every file on disk is durable and what its writer reported.
        foreach (var written in stage.Shards.Concat(stage.Importance))
        {
            var path = Path.Combine(stage.Checkpoint, written.FileName);
            if (!files.TryGetValue(written.FileName, out var actual))
            {
                throw new IOException($"{path} is missing, its writer reported it written");
            }

            if (actual != written.Sha256)
            {
                throw new IOException($"{path} has sha256 {actual}, its writer reported {written.Sha256}");
            }
        }

        return files;
    }

    public void Dispose() => pipelineInstance?.Dispose();

    private IReadOnlyList<PerplexityResult> Evaluate(string? checkpoint, IReadOnlyList<string> datasets, IProgress<WorkProgress>? progress) =>
        datasets.Select(d => Pipeline.Evaluate(checkpoint, d, Tokens(d, Split.Test, progress), settings.SeqLen, settings.EvalWindows, progress)).ToList();

    private StageResult RunStage(int stage, string dataset, StageResult? previous, string outDir, IProgress<WorkProgress>? progress)
    {
        var clock = Stopwatch.StartNew();
        var finalDirectory = Path.Combine(outDir, StageCheckpoint.DirectoryName(stage, dataset));
        var build = StageCheckpoint.BuildDirectory(finalDirectory);
        var assignment = new StageAssignment(
            stage,
            Epoch: 1,
            dataset,
            build,
            ScoredCheckpoint: settings.Strategy == Strategy.Sequential ? previous?.Checkpoint : null,
            PreviousStage: settings.Strategy == Strategy.Copal ? previous?.Checkpoint : null,
            Pipeline.ScheduleFor(settings.Propagation),
            EffectiveStore,
            metric.UsesCalibration ? settings.Samples : 0);
        Pipeline.BeginStage(assignment);
        if (metric.UsesCalibration)
        {
            using var samples = CalibrationSampler.Sample(Tokens(dataset, Split.Calib, progress), settings.Samples, settings.SeqLen, settings.Sampling, settings.SamplingSeed);
            CalibrationFeed.Run(Pipeline, model, samples, compute, $"calibrate stage {stage} {dataset}", progress);
        }

        var reports = Pipeline.FinishStage(progress);
        var shards = reports.Select(r => r.Weights).ToList();
        if (assignment.Store == StageStore.Full)
        {
            // Stored as masks, a stage reads the never-pruned tensors from its base.
            shards.Add(StageCheckpoint.WriteHead(build, model));
        }

        var importance = reports.Where(r => r.Importance != null).Select(r => r.Importance!).ToList();
        var manifest = new StageManifest(stage, dataset, metric.Name, settings.Strategy.ToString().ToLowerInvariant(), shards, importance, reports);
        StageCheckpoint.Complete(build, finalDirectory, model, shards, manifest, assignment.Store);
        return new StageResult(stage, dataset, finalDirectory, clock.Elapsed.TotalSeconds, 0, [], manifest.Sparsity(), shards, importance, BytesIn(finalDirectory));
    }

    /// <summary>The bytes of a stage directory's files: shards, accumulator, index, manifest, config and tokenizer copies.</summary>
    private static long BytesIn(string directory) => Directory.GetFiles(directory).Sum(f => new FileInfo(f).Length);

    private int[] Tokens(string dataset, Split split, IProgress<WorkProgress>? progress)
    {
        if (!tokens.TryGetValue((dataset, split), out var stream))
        {
            stream = TokenStream.Load(data, dataset, split, tokenizer, progress);
            tokens[(dataset, split)] = stream;
        }

        return stream;
    }
}
