using System.Diagnostics;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Pipeline;
using Copal.Pruning.Metrics;
using Copal.Tokenization;
using Serilog;
using static TorchSharp.torch;

namespace Copal.Pruning;

public sealed record StageResult(
    int Stage,
    string Dataset,
    string Checkpoint,
    double Seconds,
    double EvalSeconds,
    IReadOnlyList<PerplexityResult> Perplexity,
    SparsityReport Sparsity,
    IReadOnlyList<ShardFile> Shards,
    IReadOnlyList<ShardFile> Importance);

public sealed record PruneRunResult(IReadOnlyList<PerplexityResult> Dense, IReadOnlyList<StageResult> Stages)
{
    /// <summary>P[stage][dataset], datasets in run order.</summary>
    public double[][] Matrix => Stages.Select(s => s.Perplexity.Select(r => r.Perplexity).ToArray()).ToArray();
}

/// <summary>
/// A continual pruning run: for each dataset of the sequence, feed calibration micro-batches to
/// the pipeline's shards, let them prune and write their layers, complete the stage checkpoint,
/// and evaluate every dataset on it. The pipeline decides where the shards run.
/// </summary>
/// <param name="pipelineFactory">Makes the pipeline on first use (after preflight checks); null: in this process.</param>
public sealed class ContinualPruner(LlamaModel model, DataDirectory data, SentencePieceTokenizer tokenizer, PruningSettings settings, ComputeOptions compute, Func<IPruningPipeline>? pipelineFactory = null) : IDisposable
{
    private readonly IImportanceMetric metric = Metrics.Metrics.For(settings.Method, settings.Perturbation);
    private readonly Dictionary<(string, Split), int[]> tokens = new();
    private IPruningPipeline? pipelineInstance;

    private IPruningPipeline Pipeline => pipelineInstance ??= pipelineFactory?.Invoke() ?? new LocalPipeline(model, settings, compute);

    /// <summary>Checks everything a run needs before anything is written: splits, lengths, mask shapes.</summary>
    public void Preflight(IReadOnlyList<string> datasets)
    {
        data.Require(datasets, Split.Calib, Split.Test);
        foreach (var linear in LlamaLinear.All)
        {
            settings.Mask.Check(linear.Module, linear.Shape(model.Config)[1]);
        }

        if (metric.UsesCalibration)
        {
            foreach (var d in datasets)
            {
                var calibration = Tokens(d, Split.Calib);
                if (calibration.Length < settings.SeqLen)
                {
                    throw new CopalInputException($"dataset '{d}': the calibration split has {calibration.Length} tokens, fewer than one sample of {settings.SeqLen}");
                }
            }
        }
    }

    /// <summary>
    /// Runs every stage. <paramref name="knownDense"/>, when given, is the dense model's perplexity on
    /// these datasets already measured with the same length, windows and compute options (in any
    /// order), so it is not evaluated again.
    /// </summary>
    public PruneRunResult Run(IReadOnlyList<string> datasets, string outDir, IProgress<WorkProgress>? progress = null, Action<StageResult>? stageDone = null, IReadOnlyList<PerplexityResult>? knownDense = null)
    {
        var dense = knownDense is null
            ? Evaluate(null, datasets, progress)
            : datasets.Select(d => knownDense.Single(r => r.Dataset == d)).ToList();
        Log.Information("Dense perplexity: {Perplexity}", dense.ToDictionary(r => r.Dataset, r => Math.Round(r.Perplexity, 4)));

        var stages = new List<StageResult>();
        foreach (var (dataset, index) in datasets.Select((d, i) => (d, i + 1)))
        {
            var stage = RunStage(index, dataset, stages.LastOrDefault(), outDir, progress);
            var clock = Stopwatch.StartNew();
            stage = stage with { Perplexity = Evaluate(stage.Checkpoint, datasets, progress), EvalSeconds = clock.Elapsed.TotalSeconds };
            Log.Information("Stage {Stage} ({Dataset}) done in {Seconds:F1}s: perplexity {Perplexity}", index, dataset, stage.Seconds, stage.Perplexity.ToDictionary(r => r.Dataset, r => Math.Round(r.Perplexity, 4)));
            stages.Add(stage);
            stageDone?.Invoke(stage);
        }

        return new PruneRunResult(dense, stages);
    }

    public void Dispose() => pipelineInstance?.Dispose();

    private IReadOnlyList<PerplexityResult> Evaluate(string? checkpoint, IReadOnlyList<string> datasets, IProgress<WorkProgress>? progress) =>
        datasets.Select(d => Pipeline.Evaluate(checkpoint, d, Tokens(d, Split.Test), settings.SeqLen, settings.EvalWindows, progress)).ToList();

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
            Pipeline.ScheduleFor(settings.Propagation));
        Pipeline.BeginStage(assignment);
        if (metric.UsesCalibration)
        {
            FeedCalibration(dataset);
        }

        var reports = Pipeline.FinishStage(progress);
        var shards = reports.Select(r => r.Weights).Append(StageCheckpoint.WriteHead(build, model)).ToList();
        var importance = reports.Where(r => r.Importance != null).Select(r => r.Importance!).ToList();
        var sparsity = new SparsityReport();
        foreach (var report in reports.OrderBy(r => r.FirstLayer))
        {
            sparsity.Add(report.Sparsity);
        }

        var manifest = new
        {
            stage,
            dataset,
            method = metric.Name,
            strategy = settings.Strategy.ToString().ToLowerInvariant(),
            shards = shards.Select(s => new { file = s.FileName, sha256 = s.Sha256 }),
            importance = importance.Select(s => new { file = s.FileName, sha256 = s.Sha256 }),
        };
        StageCheckpoint.Complete(build, finalDirectory, model, shards, manifest);
        return new StageResult(stage, dataset, finalDirectory, clock.Elapsed.TotalSeconds, 0, [], sparsity, shards, importance);
    }

    /// <summary>Embeds the calibration samples micro-batch by micro-batch (reading only their embedding rows) and feeds them to the pipeline.</summary>
    private void FeedCalibration(string dataset)
    {
        using var samples = CalibrationSampler.Sample(Tokens(dataset, Split.Calib), settings.Samples, settings.SeqLen, settings.Sampling, settings.SamplingSeed);
        foreach (var (start, count) in Nn.LayerwiseRunner.Batches(samples.shape[0], compute.BatchSize))
        {
            using var batch = samples.narrow(0, start, count);
            Pipeline.Calibrate(start, model.Embed(batch, compute.DType));
        }
    }

    private int[] Tokens(string dataset, Split split)
    {
        if (!tokens.TryGetValue((dataset, split), out var stream))
        {
            stream = TokenStream.Load(data, dataset, split, tokenizer);
            tokens[(dataset, split)] = stream;
        }

        return stream;
    }
}
