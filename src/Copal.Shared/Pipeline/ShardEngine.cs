using System.Diagnostics;
using Copal.Model;
using Copal.Nn;
using Copal.Observability;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using static TorchSharp.torch;
using Copal.Stages;

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
    private CheckpointReader? evaluationWeights;
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
        rope = new RotaryEmbedding(model.Config.HeadDim, model.Config.RopeTheta, Math.Max(settings.SeqLen, 1), compute.DType);
    }

    public LayerRange Range { get; }

    public bool IsLast => Range.Last == model.Config.NumHiddenLayers - 1;

    public bool UsesCalibration => metric.UsesCalibration;

    /// <summary>Called after each layer a wave has pruned (progress).</summary>
    public Action<int>? LayerDone { get; set; }

    public void BeginStage(StageAssignment assignment)
    {
        if (assignment.Schedule == StageSchedule.Pipeline && settings.Propagation == Propagation.Pruned)
        {
            throw new InvalidOperationException("pruned propagation needs the wave schedule");
        }

        stage?.Dispose();
        stage = new ActiveStage(this, assignment);
    }

    /// <summary>One calibration micro-batch [b, L, H]; takes ownership. Returns the shard's output (pipeline) or null (wave).</summary>
    public Tensor? Calibrate(long firstSample, Tensor hidden)
    {
        using var phase = PhaseClock.Measure(PhaseClock.Forward);
        return Active.Calibrate(firstSample, hidden);
    }

    /// <summary>No more calibration input. In the wave schedule this runs the whole stage and returns all outputs [n, L, H].</summary>
    public Tensor? EndCalibration()
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
        evaluationWeights = checkpoint is null ? null : CheckpointReader.Open(checkpoint);
        var source = evaluationWeights ?? model.Weights;
        evaluationLayers = Range.Layers.Select(l => DecoderLayerWeights.Load(source, l, compute.DType)).ToList();
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
        return Evaluation.Perplexity.NllSum(hidden, windows, h, model.Config, compute);
    }

    public void EndEvaluation()
    {
        evaluationLayers?.ForEach(l => l.Dispose());
        evaluationLayers = null;
        evaluationWeights?.Dispose();
        evaluationWeights = null;
    }

    public void Dispose()
    {
        stage?.Dispose();
        EndEvaluation();
        head?.Dispose();
        rope.Dispose();
    }

    private ActiveStage Active => stage ?? throw new InvalidOperationException("no stage in progress");

    /// <summary>The files and in-memory state of the stage in progress.</summary>
    private sealed class ActiveStage : IDisposable
    {
        private readonly ShardEngine engine;
        private readonly StageAssignment assignment;
        private readonly CheckpointReader? scored;
        private readonly ImportanceAccumulator accumulator;
        private readonly CheckpointShardWriter shard;
        private readonly SparsityReport sparsity = new();
        private readonly List<Tensor> buffered = new();
        private readonly List<(DecoderLayerWeights Dense, DecoderLayerWeights? Scored, LayerCalibration Calibration)> pipelineLayers = new();
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private long tokens;
        private bool layersWritten;

        public ActiveStage(ShardEngine engine, StageAssignment assignment)
        {
            this.engine = engine;
            this.assignment = assignment;
            var range = engine.Range;
            var config = engine.model.Config;
            scored = assignment.ScoredCheckpoint is null ? null : CheckpointReader.Open(assignment.ScoredCheckpoint);
            accumulator = ImportanceAccumulator.Open(
                assignment.PreviousStage,
                Path.Combine(assignment.BuildDirectory, range.ImportanceFile),
                ImportanceAccumulator.Layout(config, range.Layers, engine.metric.StatisticShape),
                new Dictionary<string, string> { ["metric"] = engine.metric.Name, ["through_stage"] = assignment.Stage.ToString() });
            shard = new CheckpointShardWriter(assignment.BuildDirectory, range.WeightsFile, engine.model, range.Layers);
            if (assignment.Schedule == StageSchedule.Pipeline)
            {
                foreach (var layer in range.Layers)
                {
                    var dense = engine.model.LoadLayer(layer, engine.compute.DType);
                    var previous = scored is null ? null : DecoderLayerWeights.Load(scored, layer, engine.compute.DType);
                    pipelineLayers.Add((dense, previous, new LayerCalibration(engine.metric, previous ?? dense, previous is null, assignment.Stage, layer)));
                }
            }
        }

        public Tensor? Calibrate(long firstSample, Tensor hidden)
        {
            var count = hidden.shape[0] * hidden.shape[1];
            tokens += count;
            CopalMetrics.Tokens.Inc(count);
            if (assignment.Schedule == StageSchedule.Wave)
            {
                buffered.Add(hidden);
                return null;
            }

            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var h = hidden;
            foreach (var (dense, _, calibration) in pipelineLayers)
            {
                calibration.BatchStart = firstSample;
                h = LlamaOps.DecoderLayer(h, dense, engine.model.Config, engine.rope, calibration);
            }

            hidden.Dispose();
            UpdateThroughput();
            return h.MoveToOuterDisposeScope();
        }

        public Tensor? EndCalibration()
        {
            if (assignment.Schedule == StageSchedule.Pipeline)
            {
                return null;
            }

            using var noGrad = no_grad();
            var hidden = buffered.Count == 0 ? empty(0) : cat(buffered, 0);
            buffered.ForEach(t => t.Dispose());
            buffered.Clear();
            var runner = new StageRunner(engine.model, engine.settings, engine.metric, engine.compute);
            var output = runner.Run(new StageIo(assignment.Stage, scored, accumulator, shard, sparsity), hidden, engine.Range.Layers, engine.rope, engine.LayerDone);
            layersWritten = true;
            UpdateThroughput();
            return output;
        }

        /// <summary>Calibration tokens per second of this stage so far.</summary>
        private void UpdateThroughput() => CopalMetrics.TokensPerSecond.Set(tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds));

        public ShardReport Finish()
        {
            if (!layersWritten && assignment.Schedule == StageSchedule.Wave)
            {
                EndCalibration()?.Dispose();
            }

            foreach (var ((dense, previous, calibration), layer) in pipelineLayers.Zip(engine.Range.Layers))
            {
                using var pruned = calibration.Finish(accumulator, engine.settings.Mask);
                shard.WriteLayer(layer, pruned);
                foreach (var linear in LlamaLinear.All)
                {
                    sparsity.Count(TensorNames.Linear(layer, linear), pruned[linear]);
                }
            }

            var weights = shard.Commit();
            var importanceSha = accumulator.Commit();
            var range = engine.Range;
            var importance = importanceSha is null ? null : new ShardFile(range.ImportanceFile, importanceSha, new FileInfo(Path.Combine(assignment.BuildDirectory, range.ImportanceFile)).Length, []);
            return new ShardReport(range.First, range.Last, weights, importance, sparsity.Linears.ToList());
        }

        public void Dispose()
        {
            buffered.ForEach(t => t.Dispose());
            foreach (var (dense, previous, calibration) in pipelineLayers)
            {
                calibration.Dispose();
                previous?.Dispose();
                dense.Dispose();
            }

            shard.Dispose();
            accumulator.Dispose();
            scored?.Dispose();
        }
    }
}
