using System.Diagnostics;
using Copal.Coordinator.Cli.Hosting;
using Copal.Data;
using Copal.Model;
using Copal.Nn;
using Copal.Observability;
using Copal.Pipeline;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Stages;
using Copal.Tokenization;
using Serilog;
using static TorchSharp.torch;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// The in-process part of `copal bench perf`: a dense forward and a copal and a wanda stage of the
/// engine, side by side in every round, and the GEMM rates at the shapes of one micro-batch.
/// </summary>
public sealed class EnginePerf(PerfSettings settings)
{
    public EngineTimes Measure(string modelDir, string root)
    {
        var compute = settings.Compute;
        using var model = LlamaModel.Open(modelDir);
        var tokenizer = TokenizerFiles.Load(model);
        var calibration = TokenStream.Load(new DataDirectory(Bundled.Data), PerfSettings.Dataset, Split.Calib, tokenizer);
        using var samples = CalibrationSampler.Sample(calibration, settings.Samples, settings.SeqLen, SamplingMode.Even, 0);

        var copal = settings.StageSettings(PruningMethod.Copal, Strategy.Copal);
        var wanda = settings.StageSettings(PruningMethod.Wanda, Strategy.Reset);
        var rounds = new List<EngineRound>();
        // A first micro-batch warms the allocator and the page cache; it is not timed.
        using (var warm = samples.narrow(0, 0, Math.Min(compute.BatchSize, settings.Samples)))
        {
            Forward(model, warm);
        }

        for (var round = 1; round <= settings.Repeat; round++)
        {
            var f = Forward(model, samples);
            var c = Stage(model, samples, copal, Path.Combine(root, $"copal-{round}"));
            var w = Stage(model, samples, wanda, Path.Combine(root, $"wanda-{round}"));
            Log.Information("Round {Round}: forward {Forward:F2}s, copal stage {Copal:F2}s ({CopalPhases}), wanda stage {Wanda:F2}s ({WandaPhases})", round, f, c.Seconds, c.PhaseText, w.Seconds, w.PhaseText);
            rounds.Add(new EngineRound(f, c, w));
        }

        var microTokens = (long)Math.Min(compute.BatchSize, settings.Samples) * settings.SeqLen;
        var (matmul, importance) = GemmPerf.Rates(model.Config, microTokens, compute.DType, settings.ImportancePrecision);
        return new EngineTimes(rounds, settings.Tokens, ForwardFlops(model.Config, settings.Samples, settings.SeqLen), matmul, importance);
    }

    /// <summary>One dense forward of the samples through every decoder layer, loading each layer as a stage does.</summary>
    private double Forward(LlamaModel model, Tensor samples)
    {
        var compute = settings.Compute;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var clock = Stopwatch.StartNew();
        using var rope = new RotaryEmbedding(model.Config, (int)samples.shape[1], compute.DType);
        var hidden = model.Embed(samples, compute.DType);
        hidden = LayerwiseRunner.RunLayers(hidden, Enumerable.Range(0, model.Config.NumHiddenLayers), l => model.LoadLayer(l, compute.DType), model.Config, rope, compute);
        hidden.Dispose();
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>One stage of the in-process engine, as a run does it, without the evaluation that follows; with the engine's own phase times.</summary>
    private StageTime Stage(LlamaModel model, Tensor samples, PruningSettings stage, string buildDirectory)
    {
        var compute = settings.Compute;
        Directory.CreateDirectory(buildDirectory);
        try
        {
            using var pipeline = new LocalPipeline(model, stage, compute);
            var phasesBefore = PhaseClock.Phases.Select(PhaseClock.Seconds).ToList();
            var clock = Stopwatch.StartNew();
            pipeline.BeginStage(new StageAssignment(1, 1, PerfSettings.Dataset, buildDirectory, null, null, pipeline.ScheduleFor(stage.Propagation), Samples: settings.Samples));
            CalibrationFeed.Run(pipeline, model, samples, compute, "calibrate", progress: null);

            pipeline.FinishStage(null);
            var seconds = clock.Elapsed.TotalSeconds;
            return new StageTime(seconds, PhaseClock.Phases.Select((p, i) => (p, PhaseClock.Seconds(p) - phasesBefore[i])).ToList());
        }
        finally
        {
            Directory.Delete(buildDirectory, recursive: true);
        }
    }

    /// <summary>Linear FLOPs plus the attention products (QK^T and AV over all T^2 pairs).</summary>
    public static double ForwardFlops(LlamaConfig c, long samples, long seqLen)
    {
        var tokens = samples * seqLen;
        var linears = LlamaLinear.All.Sum(l => 2.0 * l.Shape(c)[0] * l.Shape(c)[1]) * tokens;
        var attention = 4.0 * samples * seqLen * seqLen * c.NumAttentionHeads * c.HeadDim;
        return (linears + attention) * c.NumHiddenLayers;
    }
}
