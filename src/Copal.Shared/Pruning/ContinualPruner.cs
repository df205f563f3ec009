using System.Diagnostics;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Nn;
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
    string? AccumulatorSha256);

public sealed record PruneRunResult(IReadOnlyList<PerplexityResult> Dense, IReadOnlyList<StageResult> Stages)
{
    /// <summary>P[stage][dataset], datasets in run order.</summary>
    public double[][] Matrix => Stages.Select(s => s.Perplexity.Select(r => r.Perplexity).ToArray()).ToArray();
}

/// <summary>
/// The continual pruning run in one process: for each dataset of the sequence, calibrate,
/// prune, write the stage checkpoint and evaluate every dataset on it.
/// </summary>
public sealed class ContinualPruner(LlamaModel model, DataDirectory data, SentencePieceTokenizer tokenizer, PruningSettings settings, ComputeOptions compute)
{
    private readonly IImportanceMetric metric = Metrics.Metrics.For(settings.Method, settings.Perturbation);
    private readonly Dictionary<string, int[]> calibrationTokens = new();

    /// <summary>Checks everything a run needs before anything is written: splits, lengths, mask shapes.</summary>
    public void Preflight(IReadOnlyList<string> datasets)
    {
        data.Require(datasets, Split.Calib, Split.Test);
        foreach (var linear in Model.LlamaLinear.All)
        {
            settings.Mask.Check(linear.Module, linear.Shape(model.Config)[1]);
        }

        if (metric.UsesCalibration)
        {
            foreach (var d in datasets)
            {
                var tokens = CalibrationTokens(d);
                if (tokens.Length < settings.SeqLen)
                {
                    throw new CopalInputException($"dataset '{d}': the calibration split has {tokens.Length} tokens, fewer than one sample of {settings.SeqLen}");
                }
            }
        }
    }

    private int[] CalibrationTokens(string dataset)
    {
        if (!calibrationTokens.TryGetValue(dataset, out var tokens))
        {
            tokens = TokenStream.Load(data, dataset, Split.Calib, tokenizer);
            calibrationTokens[dataset] = tokens;
        }

        return tokens;
    }

    /// <summary>
    /// Runs every stage. <paramref name="knownDense"/>, when given, is the dense model's perplexity on
    /// these datasets already measured with the same length, windows and compute options (in any
    /// order), so it is not evaluated again.
    /// </summary>
    public PruneRunResult Run(IReadOnlyList<string> datasets, string outDir, IProgress<WorkProgress>? progress = null, Action<StageResult>? stageDone = null, IReadOnlyList<PerplexityResult>? knownDense = null)
    {
        var evaluator = new ModelEvaluator(model, data, tokenizer, settings.SeqLen, settings.EvalWindows, compute);
        var dense = knownDense is null
            ? evaluator.Evaluate(datasets, progress: progress)
            : datasets.Select(d => knownDense.Single(r => r.Dataset == d)).ToList();
        Log.Information("Dense perplexity: {Perplexity}", dense.ToDictionary(r => r.Dataset, r => Math.Round(r.Perplexity, 4)));

        var stages = new List<StageResult>();
        foreach (var (dataset, index) in datasets.Select((d, i) => (d, i + 1)))
        {
            var previous = stages.LastOrDefault();
            var stage = RunStage(index, dataset, datasets.Count, previous, outDir, progress);
            var clock = Stopwatch.StartNew();
            using (var reader = CheckpointReader.Open(stage.Checkpoint))
            {
                stage = stage with { Perplexity = evaluator.Evaluate(datasets, reader, progress) };
            }

            stage = stage with { EvalSeconds = clock.Elapsed.TotalSeconds };
            Log.Information("Stage {Stage} ({Dataset}) done in {Seconds:F1}s: perplexity {Perplexity}", index, dataset, stage.Seconds, stage.Perplexity.ToDictionary(r => r.Dataset, r => Math.Round(r.Perplexity, 4)));
            stages.Add(stage);
            stageDone?.Invoke(stage);
        }

        return new PruneRunResult(dense, stages);
    }

    private StageResult RunStage(int stage, string dataset, int stageCount, StageResult? previous, string outDir, IProgress<WorkProgress>? progress)
    {
        var clock = Stopwatch.StartNew();
        var finalDirectory = Path.Combine(outDir, StageCheckpoint.DirectoryName(stage, dataset));
        var build = StageCheckpoint.BuildDirectory(finalDirectory);
        var layers = Enumerable.Range(0, model.Config.NumHiddenLayers).ToList();
        var previousState = settings.Strategy == Strategy.Copal && previous?.AccumulatorSha256 != null
            ? Path.Combine(previous.Checkpoint, ImportanceAccumulator.FileName)
            : null;

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var scored = settings.Strategy == Strategy.Sequential && previous != null ? CheckpointReader.Open(previous.Checkpoint) : null;
        using var accumulator = ImportanceAccumulator.Open(
            previousState,
            Path.Combine(build, ImportanceAccumulator.FileName),
            ImportanceAccumulator.Layout(model.Config, layers, metric.StatisticShape),
            new Dictionary<string, string> { ["metric"] = metric.Name, ["strategy"] = settings.Strategy.ToString(), ["through_stage"] = stage.ToString() });
        using var shard = new CheckpointShardWriter(build, CheckpointShardWriter.FileNameFor(layers[0], layers[^1]), model, layers);
        var sparsity = new SparsityReport();

        using var head = model.LoadHead(compute.DType);
        using var rope = new RotaryEmbedding(model.Config.HeadDim, model.Config.RopeTheta, settings.SeqLen, compute.DType);
        var hidden = metric.UsesCalibration ? CalibrationInputs(dataset, head) : empty(0);
        var task = $"stage {stage}/{stageCount} {dataset}";
        var runner = new StageRunner(model, settings, metric, compute);
        runner.Run(new StageIo(stage, scored, accumulator, shard, sparsity), hidden, layers, rope, l => progress?.Report(new WorkProgress(task, l + 1, layers.Count)));

        var shards = new List<ShardFile> { shard.Commit(), StageCheckpoint.WriteHead(build, model) };
        var accumulatorSha = accumulator.Commit();
        var manifest = new
        {
            stage,
            dataset,
            method = metric.Name,
            strategy = settings.Strategy.ToString().ToLowerInvariant(),
            shards = shards.Select(s => new { file = s.FileName, sha256 = s.Sha256 }),
            importance = accumulatorSha is null ? null : new { file = ImportanceAccumulator.FileName, sha256 = accumulatorSha },
        };
        StageCheckpoint.Complete(build, finalDirectory, model, shards, manifest);
        return new StageResult(stage, dataset, finalDirectory, clock.Elapsed.TotalSeconds, 0, [], sparsity, shards, accumulatorSha);
    }

    private Tensor CalibrationInputs(string dataset, ModelHead head)
    {
        using var samples = CalibrationSampler.Sample(CalibrationTokens(dataset), settings.Samples, settings.SeqLen, settings.Sampling, settings.SamplingSeed);
        return head.Embed(samples);
    }
}
