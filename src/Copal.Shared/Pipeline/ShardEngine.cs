using System.Diagnostics;
using Copal.Evaluation;
using Copal.Model;
using Copal.Nn;
using Copal.Observability;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Stages;
using static TorchSharp.torch;

namespace Copal.Pipeline;

/// <summary>
/// The work of one shard (a node's layer range), free of any transport: it runs calibration
/// micro-batches through its layers, gathers statistics, prunes and writes its part of the
/// stage checkpoint, and runs evaluation micro-batches. The in-process run and every cluster
/// node use this same type, so their numbers are the same.
/// </summary>
public sealed class ShardEngine : IDisposable
{
    private readonly LlamaModel model;
    private readonly PruningSettings settings;
    private readonly ComputeOptions compute;
    private readonly IImportanceMetric metric;
    private readonly RotaryEmbedding rope;
    private ActiveStage? stage;
    private List<DecoderLayerWeights>? evaluationLayers;
    private ModelHead? head;

    public ShardEngine(LlamaModel model, LayerRange range, PruningSettings settings, ComputeOptions compute)
    {
        if (range.First < 0 || range.Last >= model.Config.NumHiddenLayers || range.Count < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(range), $"{range} is outside the model's {model.Config.NumHiddenLayers} layers");
        }

        this.model = model;
        Range = range;
        this.settings = settings;
        this.compute = compute;
        metric = Metrics.For(settings);
        rope = new RotaryEmbedding(model.Config, Math.Max(settings.SeqLen, 1), compute.DType);
    }

    public LayerRange Range { get; }

    public bool IsLast => Range.Last == model.Config.NumHiddenLayers - 1;

    public bool UsesCalibration => metric.UsesCalibration;

    /// <summary>Called after each layer is pruned (progress).</summary>
    public Action<int>? LayerDone { get; set; }

    public void BeginStage(StageAssignment assignment)
    {
        stage?.Dispose();
        stage = null;
        stage = new ActiveStage(new ShardContext(model, Range, settings, metric, compute, rope), assignment, LayerDone);
    }

    /// <summary>One calibration micro-batch [b, L, H]; takes ownership. Returns the shard's output now (pipeline) or null (wave: held until the end).</summary>
    public Tensor? Calibrate(long firstSample, Tensor hidden)
    {
        using var phase = PhaseClock.Measure(PhaseClock.Forward);
        return Active.Calibrate(firstSample, hidden);
    }

    /// <summary>No more calibration input: the outputs a schedule held until now (a wave's whole pass runs here); the caller owns them.</summary>
    public IReadOnlyList<MicroBatch> EndCalibration()
    {
        using var phase = PhaseClock.Measure(PhaseClock.Forward);
        return Active.EndCalibration();
    }

    /// <summary>Prunes what is left to prune, commits the shard files, and reports them.</summary>
    public ShardReport FinishStage()
    {
        using var phase = PhaseClock.Measure(PhaseClock.Mask);
        var report = Active.Finish();
        stage!.Dispose();
        stage = null;
        return report;
    }

    /// <summary>Loads this range's layers from a checkpoint (null: the dense model) for evaluation micro-batches.</summary>
    public void BeginEvaluation(string? checkpoint)
    {
        EndEvaluation();
        using var source = LayerSource.Open(model, checkpoint);
        evaluationLayers = Range.Layers.Select(l => source.Load(l, compute.DType)).ToList();
        if (IsLast)
        {
            head ??= model.LoadHead(compute.DType, withEmbedding: false);
        }
    }

    /// <summary>Runs one evaluation micro-batch through the range; the caller keeps ownership of the input.</summary>
    public Tensor Evaluate(Tensor hidden)
    {
        var layers = evaluationLayers ?? throw new InvalidOperationException("BeginEvaluation was not called");
        using var phase = PhaseClock.Measure(PhaseClock.Evaluate);
        CopalMetrics.Tokens.Inc(hidden.shape[0] * hidden.shape[1]);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var h = hidden;
        foreach (var weights in layers)
        {
            h = LlamaOps.DecoderLayer(h, weights, model.Config, rope, null);
        }

        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Sum of next-token NLL of a micro-batch of windows (last shard only).</summary>
    public double NllSum(Tensor hidden, Tensor windows)
    {
        var h = head ?? throw new InvalidOperationException("only the last shard holds the lm_head");
        using var phase = PhaseClock.Measure(PhaseClock.Evaluate);
        using var noGrad = no_grad();
        return Perplexity.BatchNllSum(hidden, windows, h, model.Config);
    }

    public void EndEvaluation()
    {
        evaluationLayers?.ForEach(l => l.Dispose());
        evaluationLayers = null;
    }

    public void Dispose()
    {
        stage?.Dispose();
        EndEvaluation();
        head?.Dispose();
        rope.Dispose();
    }

    private ActiveStage Active => stage ?? throw new InvalidOperationException("no stage in progress");

    /// <summary>The files, the schedule and the throughput of the stage in progress.</summary>
    private sealed class ActiveStage : IDisposable
    {
        private readonly ShardContext shard;
        private readonly StageAssignment assignment;
        private readonly CheckpointReader? scored;
        private readonly ImportanceAccumulator accumulator;
        private readonly IShardWriter writer;
        private readonly StageIo io;
        private readonly IStageSchedule schedule;
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private long tokens;

        public ActiveStage(ShardContext shard, StageAssignment assignment, Action<int>? layerDone)
        {
            this.shard = shard;
            this.assignment = assignment;
            var range = shard.Range;
            var model = shard.Model;
            scored = assignment.ScoredCheckpoint is null ? null : CheckpointReader.Open(assignment.ScoredCheckpoint);
            accumulator = ImportanceAccumulator.Open(
                assignment.PreviousStage,
                Path.Combine(assignment.BuildDirectory, range.ImportanceFile),
                ImportanceAccumulator.Layout(model.Config, range.Layers, shard.Metric.StatisticShape),
                new Dictionary<string, string> { ["metric"] = shard.Metric.Name, ["through_stage"] = assignment.Stage.ToString() });
            writer = IShardWriter.Create(assignment.Store, assignment.BuildDirectory, range.WeightsFile, model, range.Layers);
            io = new StageIo(assignment.Stage, scored, accumulator, writer, new SparsityReport());
            schedule = IStageSchedule.Create(assignment, shard, io, layerDone);
        }

        public Tensor? Calibrate(long firstSample, Tensor hidden)
        {
            var count = hidden.shape[0] * hidden.shape[1];
            tokens += count;
            CopalMetrics.Tokens.Inc(count);
            var output = schedule.Calibrate(firstSample, hidden);
            UpdateThroughput();
            return output;
        }

        public IReadOnlyList<MicroBatch> EndCalibration()
        {
            var outputs = schedule.EndCalibration();
            UpdateThroughput();
            return outputs;
        }

        /// <summary>Calibration tokens per second of this stage so far.</summary>
        private void UpdateThroughput() => CopalMetrics.TokensPerSecond.Set(tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds));

        public ShardReport Finish()
        {
            schedule.FinishLayers();
            var weights = writer.Commit();
            var importanceSha = accumulator.Commit();
            var range = shard.Range;
            var importance = importanceSha is null ? null : new ShardFile(range.ImportanceFile, importanceSha, new FileInfo(Path.Combine(assignment.BuildDirectory, range.ImportanceFile)).Length, []);
            return new ShardReport(range.First, range.Last, weights, importance, io.Sparsity.Linears.ToList());
        }

        public void Dispose()
        {
            schedule.Dispose();
            writer.Dispose();
            accumulator.Dispose();
            scored?.Dispose();
        }
    }
}
