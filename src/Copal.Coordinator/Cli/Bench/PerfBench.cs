using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Copal.Coordinator.Cli.Hosting;
using Copal.Coordinator.Reporting;
using Copal.Data;
using Copal.Model;
using Copal.Nn;
using Copal.Observability;
using Copal.Pipeline;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Tokenization;
using Serilog;
using static TorchSharp.torch;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// The measurements of `copal bench perf`. Everything that is compared is measured in the same
/// run, side by side in every round; rates are the fastest round's, ratios the median of the
/// rounds' (<see cref="RoundRatio"/>), so they stay meaningful on a machine busy with other work.
/// </summary>
public sealed class PerfBench(PerfSettings settings)
{
    private const string Dataset = "fiction";
    private const int MicroRepeats = 5;

    public JsonObject Run()
    {
        var root = Path.Combine(settings.WorkRoot, $"copal-perf-{Environment.ProcessId}-{DateTime.UtcNow:yyyyMMddHHmmss}");
        Directory.CreateDirectory(root);
        try
        {
            return Measure(root);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private JsonObject Measure(string root)
    {
        var compute = settings.Compute;
        var shape = settings.ModelShape;
        var modelDir = Path.Combine(root, "model");
        // Stored in BF16, as released LLaMA checkpoints are; the compute dtype is --dtype.
        Log.Information("Generating a random LLaMA checkpoint ({Shape}, BF16) in {Directory}", shape, modelDir);
        RandomCheckpoint.Write(modelDir, shape, StorageType.BF16);

        using var model = LlamaModel.Open(modelDir);
        var tokenizer = SentencePieceTokenizer.Load(model.TokenizerPath);
        var calibration = TokenStream.Load(new DataDirectory(Bundled.Data), Dataset, Split.Calib, tokenizer);
        using var samples = CalibrationSampler.Sample(calibration, settings.Samples, settings.SeqLen, SamplingMode.Even, 0);
        var tokens = (long)settings.Samples * settings.SeqLen;

        var copal = StageSettings(PruningMethod.Copal, Strategy.Copal);
        var wanda = StageSettings(PruningMethod.Wanda, Strategy.Reset);
        var rounds = new List<(double Forward, StageTime Copal, StageTime Wanda)>();
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
            rounds.Add((f, c, w));
        }

        var forward = rounds.Min(r => r.Forward);
        var copalStage = rounds.MinBy(r => r.Copal.Seconds).Copal;
        var wandaStage = rounds.MinBy(r => r.Wanda.Seconds).Wanda;

        var microTokens = (long)Math.Min(compute.BatchSize, settings.Samples) * settings.SeqLen;
        var (matmul, importance) = GemmRates(model.Config, microTokens, compute.DType, settings.ImportancePrecision);
        var forwardFlops = ForwardFlops(model.Config, settings.Samples, settings.SeqLen);
        var json = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["hidden"] = shape.Hidden,
                ["intermediate"] = shape.Intermediate,
                ["layers"] = shape.Layers,
                ["heads"] = shape.Heads,
                ["vocab"] = shape.Vocab,
                ["parameters"] = shape.Parameters,
            },
            ["samples"] = settings.Samples,
            ["seqlen"] = settings.SeqLen,
            ["tokens"] = tokens,
            ["batch_size"] = compute.BatchSize,
            ["threads"] = settings.Threads,
            ["dtype"] = PerfCommand.DTypeName(compute.DType),
            ["importance_precision"] = PruneReport.PrecisionName(settings.ImportancePrecision),
            ["repeat"] = settings.Repeat,
            ["forward_seconds"] = forward,
            ["forward_tokens_per_s"] = tokens / forward,
            ["forward_gflops"] = forwardFlops / forward / 1e9,
            ["matmul_gflops"] = matmul,
            ["forward_over_matmul"] = forwardFlops / forward / 1e9 / matmul,
            ["copal_stage_seconds"] = copalStage.Seconds,
            ["copal_stage_phase_seconds"] = copalStage.PhaseJson(),
            ["wanda_stage_seconds"] = wandaStage.Seconds,
            ["wanda_stage_phase_seconds"] = wandaStage.PhaseJson(),
            ["copal_stage_over_forward"] = RoundRatio.Median(rounds.Select(r => (r.Copal.Seconds, r.Forward))),
            ["wanda_stage_over_forward"] = RoundRatio.Median(rounds.Select(r => (r.Wanda.Seconds, r.Forward))),
            ["rounds"] = new JsonArray(rounds.Select(r => (JsonNode)new JsonObject { ["forward_seconds"] = r.Forward, ["copal_stage_seconds"] = r.Copal.Seconds, ["wanda_stage_seconds"] = r.Wanda.Seconds }).ToArray()),
            ["importance_gflops"] = importance,
            ["importance_gemm_efficiency"] = importance / matmul,
        };

        json["cluster"] = null;
        json["cluster_over_inprocess"] = null;
        if (settings.ClusterNodes > 0)
        {
            var request = new ClusterStageRequest(modelDir, Path.Combine(root, "cluster"), settings.ClusterNodes, settings.ClusterSamples, settings.SeqLen, compute, settings.Threads, settings.ImportancePrecision, settings.Repeat);
            Directory.CreateDirectory(request.WorkDirectory);
            Log.Information("Timing a copal stage in one process and on {Nodes} node processes", settings.ClusterNodes);
            if (shape.Layers % settings.ClusterNodes != 0)
            {
                Log.Warning("{Layers} layers do not split evenly over {Nodes} nodes: the node with the most sets the pace, so the ratio measures that imbalance too", shape.Layers, settings.ClusterNodes);
            }

            var times = ClusterStage(request);
            json["cluster"] = new JsonObject
            {
                ["nodes"] = settings.ClusterNodes,
                ["samples"] = settings.ClusterSamples,
                ["inprocess_stage_seconds"] = times.InProcessSeconds,
                ["cluster_stage_seconds"] = times.ClusterSeconds,
                ["rounds"] = new JsonArray(times.Rounds.Select(r => (JsonNode)new JsonObject { ["inprocess_stage_seconds"] = r.InProcess, ["cluster_stage_seconds"] = r.Cluster }).ToArray()),
            };
            json["cluster_over_inprocess"] = times.Ratio;
        }

        Directory.Delete(modelDir, recursive: true);
        var (peak, big) = settings.Run7B ? PeakRss7B(root) : (null, new JsonObject { ["skipped"] = "--skip-7b" });
        json["peak_rss_7b_bytes"] = peak;
        json["llama_7b"] = big;
        json["targets"] = new JsonObject
        {
            ["copal_stage_over_forward"] = 1.8,
            ["wanda_stage_over_forward"] = 1.2,
            ["importance_gemm_efficiency"] = 0.7,
            ["cluster_over_inprocess"] = 1.15,
            ["peak_rss_7b_bytes"] = 3e9,
        };
        return json;
    }

    private PruningSettings StageSettings(PruningMethod method, Strategy strategy) => new()
    {
        Method = method,
        Strategy = strategy,
        Propagation = Propagation.Dense,
        Mask = new MaskPolicy(0.5, PruningSettings.DefaultGroup(method), null),
        Samples = settings.Samples,
        SeqLen = settings.SeqLen,
        ImportancePrecision = PruningSettings.PrecisionFor(method, settings.ImportancePrecision),
    };

    /// <summary>One dense forward of the samples through every decoder layer, loading each layer as a stage does.</summary>
    private double Forward(LlamaModel model, Tensor samples)
    {
        var compute = settings.Compute;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var clock = Stopwatch.StartNew();
        using var rope = new RotaryEmbedding(model.Config.HeadDim, model.Config.RopeTheta, (int)samples.shape[1], compute.DType);
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
            var phasesBefore = CopalMetrics.Phases.Select(p => CopalMetrics.PhaseSeconds.WithLabels(p).Value).ToList();
            var clock = Stopwatch.StartNew();
            pipeline.BeginStage(new StageAssignment(1, 1, Dataset, buildDirectory, null, null, pipeline.ScheduleFor(stage.Propagation)));
            foreach (var (start, count) in LayerwiseRunner.Batches(samples.shape[0], compute.BatchSize))
            {
                using var batch = samples.narrow(0, start, count);
                pipeline.Calibrate(start, model.Embed(batch, compute.DType));
            }

            pipeline.FinishStage(null);
            var seconds = clock.Elapsed.TotalSeconds;
            return new StageTime(seconds, CopalMetrics.Phases.Select((p, i) => (p, CopalMetrics.PhaseSeconds.WithLabels(p).Value - phasesBefore[i])).ToList());
        }
        finally
        {
            Directory.Delete(buildDirectory, recursive: true);
        }
    }

    /// <summary>A stage's wall time and the seconds the engine counted in each phase (forward, importance, mask).</summary>
    private sealed record StageTime(double Seconds, IReadOnlyList<(string Phase, double Seconds)> Phases)
    {
        public string PhaseText => string.Join(", ", Phases.Where(p => p.Seconds > 0).Select(p => $"{p.Phase} {p.Seconds:F2}s"));

        public JsonObject PhaseJson()
        {
            var json = new JsonObject();
            foreach (var (phase, seconds) in Phases)
            {
                json[phase] = seconds;
            }

            return json;
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

    /// <summary>
    /// GFLOP/s of a plain matmul x W^T and of the COPAL importance accumulation |Y|^T |X| (the
    /// engine's own code) at the shapes of one decoder layer's linears for one micro-batch.
    /// </summary>
    private static (double Matmul, double Importance) GemmRates(LlamaConfig config, long tokens, ScalarType dtype, ImportancePrecision precision)
    {
        using var noGrad = no_grad();
        double flops = 0, matmulSeconds = 0, importanceSeconds = 0;
        using var generator = new Generator(7);
        var metric = new CopalMetric(Perturbation.Relative, precision);
        foreach (var group in LlamaLinear.SharedInputs)
        {
            using var scope = NewDisposeScope();
            var inFeatures = group[0].Shape(config)[1];
            var x = randn([tokens, inFeatures], generator: generator);
            var xc = x.to_type(dtype);
            var linears = group.Select(l => (Weight: randn(l.Shape(config), generator: generator).mul_(0.02), Linear: l)).ToList();
            var weights = linears.Select(l => l.Weight.to_type(dtype)).ToList();
            // The operands the engine hands the metric: in the compute dtype where it accepts that.
            var operandDType = metric.AcceptsComputeDType ? dtype : ScalarType.Float32;
            var outputs = linears.Select(l => nn.functional.linear(x, l.Weight).to_type(operandDType)).ToList();
            var observedX = x.to_type(operandDType);
            var statistics = linears.Select(l => zeros_like(l.Weight)).ToList();
            flops += linears.Sum(l => 2.0 * tokens * l.Weight.shape[0] * l.Weight.shape[1]);
            matmulSeconds += Best(() =>
            {
                foreach (var w in weights)
                {
                    nn.functional.linear(xc, w).Dispose();
                }
            });
            var observed = linears.Select((l, i) => new ObservedLinear(statistics[i], l.Weight, outputs[i], new CalibrationSite(1, 0, l.Linear.Index, 0))).ToList();
            importanceSeconds += Best(() => metric.Accumulate(observedX, observed));
        }

        return (flops / matmulSeconds / 1e9, flops / importanceSeconds / 1e9);
    }

    private static double Best(Action action)
    {
        action();
        var best = double.MaxValue;
        for (var i = 0; i < MicroRepeats; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }

        return best;
    }

    /// <summary>
    /// Times one copal stage in one process and on N node processes: `copal prune --nodes 0` and
    /// `--nodes N` as child processes, side by side for <see cref="ClusterStageRequest.Rounds"/>
    /// rounds (each side first in turn).
    /// </summary>
    private static ClusterStageTimes ClusterStage(ClusterStageRequest request)
    {
        double StageSeconds(int nodes)
        {
            var outDir = Path.Combine(request.WorkDirectory, $"nodes-{nodes}");
            var reportPath = Path.Combine(outDir, "report.json");
            ChildCopal.Run(
                [
                    "prune", "--model", request.ModelDirectory, "--datasets", Dataset, "--method", "copal",
                    "--samples", request.Samples.ToString(CultureInfo.InvariantCulture), "--seqlen", request.SeqLen.ToString(CultureInfo.InvariantCulture),
                    "--eval-windows", "1", "--batch-size", request.Compute.BatchSize.ToString(CultureInfo.InvariantCulture),
                    "--threads", request.Threads.ToString(CultureInfo.InvariantCulture), "--dtype", PerfCommand.DTypeName(request.Compute.DType),
                    "--importance-precision", PruneReport.PrecisionName(request.Precision), "--nodes", nodes.ToString(CultureInfo.InvariantCulture), "--out", outDir, "--force",
                ],
                null);
            var report = JsonNode.Parse(File.ReadAllText(reportPath))!;
            var seconds = report["stages"]!.AsArray().Sum(s => s!["seconds"]!.GetValue<double>());
            if (report["cluster"]?["node_activity"] is JsonArray activity)
            {
                // Where a cluster stage loses against one process: nodes waiting for input (pipeline fill/drain, imbalance).
                foreach (var node in activity)
                {
                    Log.Information("  {Node}: busy {Busy:F2}s, idle {Idle:F2}s", node!["node"]!.GetValue<string>(), node["busy_seconds"]!.GetValue<double>(), node["idle_seconds"]!.GetValue<double>());
                }
            }

            Directory.Delete(outDir, recursive: true);
            return seconds;
        }

        var rounds = new List<(double, double)>();
        for (var round = 1; round <= request.Rounds; round++)
        {
            // Which side runs first alternates, so a machine slowing down or speeding up over the
            // rounds does not favour either.
            double i, c;
            if (round % 2 == 1)
            {
                (i, c) = (StageSeconds(0), StageSeconds(request.Nodes));
            }
            else
            {
                (c, i) = (StageSeconds(request.Nodes), StageSeconds(0));
            }

            Log.Information("Cluster round {Round}: in-process stage {InProcess:F2}s, {Nodes} nodes {Cluster:F2}s", round, i, request.Nodes, c);
            rounds.Add((i, c));
        }

        return new ClusterStageTimes(rounds);
    }

    /// <summary>Generates a LLaMA-7B-shaped BF16 checkpoint, prunes it in a child process and samples its peak RSS.</summary>
    private (long? Peak, JsonObject Details) PeakRss7B(string root)
    {
        var shape = ModelShape.Llama7B;
        var method = settings.Method7B;
        var needed = method == PruningMethod.Copal ? 60L << 30 : 30L << 30;
        var details = new JsonObject
        {
            ["shape"] = shape.ToString(),
            ["method"] = PruneReport.MethodName(method),
            ["samples"] = settings.Samples7B,
            ["seqlen"] = settings.SeqLen7B,
            ["dtype"] = PerfCommand.DTypeName(settings.Compute.DType),
        };
        var free = new DriveInfo(Path.GetFullPath(root)).AvailableFreeSpace;
        if (free < needed)
        {
            var reason = $"only {free / 1e9:F1} GB free in {root}, the 7B-shaped run needs {needed / 1e9:F0} GB";
            Log.Warning("Skipping the 7B-shaped peak-memory run: {Reason}", reason);
            details["skipped"] = reason;
            return (null, details);
        }

        var modelDir = Path.Combine(root, "llama-7b");
        var outDir = Path.Combine(root, "llama-7b-out");
        try
        {
            var clock = Stopwatch.StartNew();
            Log.Information("Generating a random LLaMA-7B-shaped checkpoint ({Shape}, BF16) in {Directory}", shape, modelDir);
            RandomCheckpoint.Write(modelDir, shape with { Positions = Math.Max(settings.SeqLen7B, 2048) }, StorageType.BF16);
            details["generate_seconds"] = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var peak = 0L;
            ChildCopal.Run(
                [
                    "prune", "--model", modelDir, "--datasets", Dataset, "--method", PruneReport.MethodName(method),
                    "--samples", settings.Samples7B.ToString(CultureInfo.InvariantCulture), "--seqlen", settings.SeqLen7B.ToString(CultureInfo.InvariantCulture),
                    "--eval-windows", "1", "--batch-size", settings.Compute.BatchSize.ToString(CultureInfo.InvariantCulture),
                    "--threads", settings.Threads.ToString(CultureInfo.InvariantCulture), "--dtype", PerfCommand.DTypeName(settings.Compute.DType),
                    "--out", outDir,
                ],
                pid => peak = Math.Max(peak, PeakRss(pid)));
            details["prune_seconds"] = clock.Elapsed.TotalSeconds;
            details["peak_rss_bytes"] = peak;
            Log.Information("7B-shaped run: peak RSS {Peak:F2} GB", peak / 1e9);
            return (peak, details);
        }
        finally
        {
            foreach (var dir in new[] { modelDir, outDir })
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        }
    }

    /// <summary>VmHWM (the peak resident set so far) of a live process, in bytes; 0 once it is gone.</summary>
    public static long PeakRss(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    var kb = line["VmHWM:".Length..].Trim().Split(' ')[0];
                    return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    public static string Table(JsonObject perf)
    {
        string Value(string key, string unit = "")
        {
            var node = perf[key];
            return node is null ? "skipped" : PerfCommand.Format(node.GetValue<double>()) + unit;
        }

        // Each round's own ratio, in the order of the rounds: the spread is part of the figure.
        static string Rounds(JsonNode? rounds, string numerator, string denominator) => rounds is JsonArray all
            ? "; median of rounds " + string.Join(", ", all.Select(r => PerfCommand.Format(r![numerator]!.GetValue<double>() / r[denominator]!.GetValue<double>())))
            : "";

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"| measure | value |");
        text.AppendLine("|---|---|");
        text.AppendLine(CultureInfo.InvariantCulture, $"| dense forward | {Value("forward_tokens_per_s")} tokens/s, {Value("forward_gflops")} GFLOP/s |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| plain matmul, same shapes | {Value("matmul_gflops")} GFLOP/s |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| forward / matmul | {Value("forward_over_matmul")} |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| copal stage / dense forward | {Value("copal_stage_over_forward")} (target <= 1.8{Rounds(perf["rounds"], "copal_stage_seconds", "forward_seconds")}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| wanda stage / dense forward | {Value("wanda_stage_over_forward")} (target <= 1.2{Rounds(perf["rounds"], "wanda_stage_seconds", "forward_seconds")}) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| importance GEMM / plain matmul | {Value("importance_gemm_efficiency")} (target >= 0.7), {perf["importance_precision"]} operands |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| cluster stage / in-process stage | {Value("cluster_over_inprocess")} (target <= 1.15{Rounds(perf["cluster"]?["rounds"], "cluster_stage_seconds", "inprocess_stage_seconds")}) |");
        var peak = perf["peak_rss_7b_bytes"];
        text.AppendLine(CultureInfo.InvariantCulture, $"| 7B-shaped peak RSS | {(peak is null ? "skipped" : PerfCommand.Format(peak.GetValue<long>() / 1e9) + " GB")} (target <= 3 GB) |");
        return text.ToString();
    }
}
