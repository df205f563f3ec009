using Copal.Data;
using Copal.Model;
using Copal.Pipeline;
using Copal.Pruning;
using Copal.Runs;
using Copal.Stages;
using Copal.Tokenization;
using Xunit;

namespace Copal.Tests;

/// <summary>The wave and the pipeline schedule are two orders of the same per-layer steps: the same bits.</summary>
public class ScheduleEquivalenceTests
{
    [Fact]
    public void TheInProcessRunPipelinesDensePropagationWhileItFits()
    {
        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        var settings = Settings(Strategy.Copal);
        using var fits = new LocalPipeline(model, settings, ComputeOptions.Default);
        using var tooSmall = new LocalPipeline(model, settings, ComputeOptions.Default, pipelineBudget: 0);
        Assert.Equal(StageSchedule.Pipeline, fits.ScheduleFor(Propagation.Dense));
        Assert.Equal(StageSchedule.Wave, tooSmall.ScheduleFor(Propagation.Dense));
        Assert.Equal(StageSchedule.Wave, fits.ScheduleFor(Propagation.Pruned));
    }

    [Theory]
    [InlineData(Strategy.Copal)]
    [InlineData(Strategy.Sequential)]
    public void WaveAndPipelineGiveTheSameStages(Strategy strategy)
    {
        using var dir = new TempDir();
        var settings = Settings(strategy);
        var pipelined = Run(settings, dir.File("pipeline"), budget: null);
        var waved = Run(settings, dir.File("wave"), budget: 0);
        Assert.Equal(pipelined.Matrix, waved.Matrix);
        foreach (var (p, w) in pipelined.Stages.Zip(waved.Stages))
        {
            var expected = TensorDigests.Of(p.Checkpoint);
            Assert.NotEmpty(expected);
            Assert.Equal(expected, TensorDigests.Of(w.Checkpoint));
        }
    }

    [Fact]
    public void APipelineFinishesEachLayerAsTheLastSamplePassesIt()
    {
        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        using var dir = new TempDir();
        var settings = Settings(Strategy.Copal);
        var compute = ComputeOptions.Default with { BatchSize = 3 };
        var layers = model.Config.NumHiddenLayers;
        using var engine = new ShardEngine(model, new LayerRange(0, layers - 1), settings, compute);
        var finished = new List<int>();
        engine.LayerDone = finished.Add;
        engine.BeginStage(new StageAssignment(1, 1, "fiction", Directory.CreateDirectory(dir.File("build")).FullName, null, null, StageSchedule.Pipeline, Samples: settings.Samples));
        using var samples = CalibrationSampler.Sample(TokenStream.Load(new DataDirectory(RepoPaths.Corpora), "fiction", Split.Calib, TokenizerFiles.Load(model)), settings.Samples, settings.SeqLen, SamplingMode.Even, 0);
        using var head = model.LoadHead(compute.DType);
        foreach (var (start, count) in Nn.LayerwiseRunner.Batches(samples.shape[0], compute.BatchSize))
        {
            Assert.Empty(finished);
            using var batch = samples.narrow(0, start, count);
            engine.Calibrate(start, head.Embed(batch))?.Dispose();
        }

        // Every layer was finished (and its files queued) by the last micro-batch, before the stage's end.
        Assert.Equal(Enumerable.Range(0, layers), finished);
        Assert.NotEmpty(engine.FinishStage().Weights.Sha256);
        Assert.Equal(layers, finished.Count);
    }

    private static PruningSettings Settings(Strategy strategy) => new()
    {
        Method = PruningMethod.Copal,
        Strategy = strategy,
        Propagation = Propagation.Dense,
        Mask = new MaskPolicy(0.5, MaskGroup.Row, null),
        Samples = 8,
        SeqLen = 64,
        EvalWindows = 2,
    };

    private static PruneRunResult Run(PruningSettings settings, string outDir, long? budget)
    {
        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        var tokenizer = TokenizerFiles.Load(model);
        var compute = ComputeOptions.Default with { BatchSize = 3 };
        using var pruner = new ContinualPruner(model, new DataDirectory(RepoPaths.Corpora), tokenizer, settings, compute, () => new LocalPipeline(model, settings, compute, budget));
        string[] datasets = ["fiction", "science"];
        pruner.Preflight(datasets);
        return pruner.Run(datasets, outDir);
    }
}
