using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Copal.Coordinator.Cli.Hosting;
using Copal.Coordinator.Cluster;
using Copal.Coordinator.Reporting;
using Copal.Model;
using Copal.Planning;
using Copal.Pruning.Metrics;
using Spectre.Console;
using static TorchSharp.torch;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>`copal plan`: which node of the pipeline owns which layers, and whether it all fits in memory.</summary>
public static class PlanCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face LLaMA checkpoint directory: its config.json and weight dtype are planned for" };
        var preset = new Option<string?>("--preset") { Description = "plan for a known model instead: " + string.Join(", ", ModelPresets.Names) };
        var nodes = new Option<int>("--nodes") { Description = "GPU node processes in the pipeline", Required = true };
        var memory = new Option<string>("--memory") { Description = "memory of each node, e.g. 80GiB (binary units), or one size per node separated by commas", Required = true };
        var method = new Option<string>("--method") { Description = "copal (default), wanda, magnitude or sparsegpt", DefaultValueFactory = _ => "copal" };
        var propagate = new Option<string?>("--propagate") { Description = "dense (default for copal) or pruned (default for the baselines)" };
        var samples = new Option<int>("--samples") { Description = "calibration samples per dataset", DefaultValueFactory = _ => 128 };
        var seqLen = CommonOptions.SeqLen();
        var microBatch = new Option<int>("--micro-batch") { Description = "sequences per micro-batch", DefaultValueFactory = _ => 8 };
        var inFlight = new Option<int>("--in-flight") { Description = "micro-batches a node may have in flight", DefaultValueFactory = _ => 4 };
        var activation = new Option<string>("--activation-dtype") { Description = "dtype of activations on the nodes: bfloat16 (default) or float32", DefaultValueFactory = _ => "bfloat16" };
        var tflops = new Option<double>("--tflops") { Description = "sustained TFLOP/s per node for the time estimate", DefaultValueFactory = _ => 100 };
        var report = CommonOptions.Report();
        var command = new Command("plan", "Split a model's layers over the pipeline's GPU nodes and check that each node's share fits its memory")
        {
            model, preset, nodes, memory, method, propagate, samples, seqLen, microBatch, inFlight, activation, tflops, report,
        };
        command.SetAction(result =>
        {
            var source = Source(result.GetValue(model), result.GetValue(preset));
            var count = result.GetValue(nodes);
            if (count < 1)
            {
                throw new CopalInputException($"--nodes must be at least 1, got {count}");
            }

            var rate = result.GetValue(tflops);
            if (!(rate > 0))
            {
                throw new CopalInputException($"--tflops must be positive, got {rate}");
            }

            var pruningMethod = Metrics.Parse(result.GetValue(method)!);
            var request = PlanRequestFactory.Create(
                source,
                pruningMethod,
                PruneOptions.ParsePropagation(result.GetValue(propagate), pruningMethod),
                result.GetValue(samples),
                Evaluation.ModelEvaluator.ResolveSeqLen(source.Config, result.GetValue(seqLen)),
                result.GetValue(microBatch),
                result.GetValue(inFlight),
                result.GetValue(activation) switch
                {
                    "bfloat16" or "bf16" => ScalarType.BFloat16,
                    "float32" or "fp32" => ScalarType.Float32,
                    var other => throw new CopalInputException($"--activation-dtype must be bfloat16 or float32, got '{other}'"),
                });
            var capacities = Capacities(count, result.GetValue(memory)!);
            var reportPath = result.GetValue(report);
            ReportWriter.CheckWritable(reportPath);

            var plan = LayerPlanner.Plan(request, capacities);
            Print(plan, rate);
            if (reportPath != null)
            {
                ReportWriter.WriteJson(reportPath, Json(plan, rate));
            }

            return 0;
        });
        return command;
    }

    /// <summary>The model to plan for: a checkpoint or a preset.</summary>
    private static PlannedModel Source(string? modelDir, string? presetName)
    {
        if (modelDir != null && presetName != null)
        {
            throw new CopalInputException("give either --model or --preset, not both");
        }

        if (presetName != null)
        {
            return new PlannedModel(presetName.ToLowerInvariant(), ModelPresets.Get(presetName), ModelPresets.WeightDType);
        }

        if (modelDir == null)
        {
            throw new CopalInputException($"give --model DIR or --preset NAME ({string.Join(", ", ModelPresets.Names)})");
        }

        using var llama = LlamaModel.Open(modelDir);
        return PlannedModel.Of(llama);
    }

    /// <summary>node-0..node-(N-1), with one --memory for all or one per node.</summary>
    private static List<NodeCapacity> Capacities(int count, string memory)
    {
        var sizes = memory.Split(',', StringSplitOptions.TrimEntries).Select(ParseMemory).ToList();
        if (sizes.Count != 1 && sizes.Count != count)
        {
            throw new CopalInputException($"--memory gives {sizes.Count} sizes for {count} nodes: give one size for all, or one per node");
        }

        return Enumerable.Range(0, count).Select(i => new NodeCapacity($"node-{i}", sizes[sizes.Count == 1 ? 0 : i])).ToList();
    }

    private static long ParseMemory(string text)
    {
        var bytes = ByteSize.Parse(text);
        return bytes > 0 ? bytes : throw new CopalInputException($"--memory must be positive, got '{text}'");
    }

    private static void Print(Plan plan, double tflops)
    {
        var r = plan.Request;
        AnsiConsole.MarkupLine(Markup.Escape(
            $"{r.ModelName} ({r.Config.NumHiddenLayers} layers, {r.WeightDType.Name()} weights), {Metrics.NameOf(r.Method)} with {r.Propagation.ToString().ToLowerInvariant()} propagation, "
            + $"{r.Samples} samples x L={r.SeqLen}, micro-batch {r.MicroBatch}, {r.InFlight} in flight, {r.ActivationBytes}-byte activations"));
        // One unit for the whole table keeps the cells narrow: that of the largest node total.
        var largest = plan.Shards.Max(s => s.TotalBytes);
        var (unit, size) = largest >= ByteSize.GiB ? ("GiB", ByteSize.GiB) : largest >= ByteSize.MiB ? ("MiB", ByteSize.MiB) : ("KiB", ByteSize.KiB);
        string Size(long bytes) => ((double)bytes / size).ToString("F1", CultureInfo.InvariantCulture);
        var table = new Table()
            .AddColumns(new[] { "node", "layers", "weights", "method state", "buffers", "runtime", "head", "total", "used", "FLOPs share" }
                .Select(h => h.Contains(' ') ? new TableColumn(h) : new TableColumn(h).NoWrap()).ToArray())
            .Caption($"sizes in {unit}; used: of the node's memory; FLOPs share: of the stage's calibration FLOPs");
        foreach (var s in plan.Shards)
        {
            table.AddRow(
                Markup.Escape(s.NodeId),
                $"{s.FirstLayer}-{s.LastLayer}",
                Size(s.WeightBytes),
                Size(s.MethodStateBytes),
                Size(s.BufferBytes),
                Size(s.RuntimeBytes),
                s.HeadBytes == 0 ? "-" : Size(s.HeadBytes),
                Size(s.TotalBytes),
                Percent(s.TotalBytes, s.CapacityBytes),
                plan.FlopsPerStage == 0 ? "-" : Percent(s.Flops, plan.FlopsPerStage));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape(
            $"streamed per stage: {ByteSize.Format(plan.BytesStreamedPerStage)} ({plan.Boundaries} boundaries x {ByteSize.Format(plan.BytesPerBoundary)}, coordinator to node-0 included)"));
        AnsiConsole.MarkupLine(Markup.Escape(
            $"FLOPs per stage: {FormatFlops(plan.FlopsPerStage)}; estimated stage time at {tflops.ToString(CultureInfo.InvariantCulture)} TFLOP/s per node: "
            + $"{plan.EstimatedSeconds(tflops).ToString("F1", CultureInfo.InvariantCulture)} s ({plan.EstimateNote})"));
        var disk = Disk(r);
        var stored = new Table()
            .AddColumns("--store", "per stage", "weights or masks", "accumulator")
            .Caption("the accumulator is kept for the latest committed stage only (--keep-accumulators: for every stage)");
        stored.AddRow("full", ByteSize.Format(disk.FullBytes), ByteSize.Format(disk.ModelBytes), ByteSize.Format(disk.AccumulatorBytes));
        stored.AddRow(
            "masks",
            disk.MasksBytes is { } masks ? ByteSize.Format(masks) : $"n/a: {Metrics.NameOf(r.Method)} changes the weights it keeps (stored full)",
            disk.MaskBytes is { } bits ? ByteSize.Format(bits) : "-",
            disk.MaskBytes is null ? "-" : ByteSize.Format(disk.AccumulatorBytes));
        AnsiConsole.MarkupLine("disk per stage:");
        AnsiConsole.Write(stored);
    }

    private static StageDisk Disk(PlanRequest r) => StageDisk.Of(r.Config, r.WeightDType, r.Method);

    private static JsonObject Json(Plan plan, double tflops)
    {
        var r = plan.Request;
        var shards = new JsonArray();
        foreach (var s in plan.Shards)
        {
            shards.Add(new JsonObject
            {
                ["node"] = s.NodeId,
                ["first_layer"] = s.FirstLayer,
                ["last_layer"] = s.LastLayer,
                ["layers"] = s.LayerCount,
                ["weight_bytes"] = s.WeightBytes,
                ["method_state_bytes"] = s.MethodStateBytes,
                ["buffer_bytes"] = s.BufferBytes,
                ["runtime_bytes"] = s.RuntimeBytes,
                ["head_bytes"] = s.HeadBytes,
                ["total_bytes"] = s.TotalBytes,
                ["capacity_bytes"] = s.CapacityBytes,
                ["flops"] = s.Flops,
            });
        }

        return new JsonObject
        {
            ["model"] = r.ModelName,
            ["layers"] = r.Config.NumHiddenLayers,
            ["weight_dtype"] = r.WeightDType.Name(),
            ["method"] = Metrics.NameOf(r.Method),
            ["propagation"] = r.Propagation.ToString().ToLowerInvariant(),
            ["samples"] = r.Samples,
            ["seqlen"] = r.SeqLen,
            ["micro_batch"] = r.MicroBatch,
            ["in_flight"] = r.InFlight,
            ["activation_bytes"] = r.ActivationBytes,
            ["nodes"] = shards,
            ["bytes_per_boundary"] = plan.BytesPerBoundary,
            ["bytes_streamed_per_stage"] = plan.BytesStreamedPerStage,
            ["flops_per_stage"] = plan.FlopsPerStage,
            ["tflops_per_node"] = tflops,
            ["estimated_seconds"] = plan.EstimatedSeconds(tflops),
            ["estimate_note"] = plan.EstimateNote,
            ["disk_per_stage"] = DiskJson(Disk(r)),
        };
    }

    /// <summary>Bytes one stage writes by storage mode; masks is null for a method that changes weights.</summary>
    private static JsonObject DiskJson(StageDisk disk) => new()
    {
        ["full"] = disk.FullBytes,
        ["masks"] = disk.MasksBytes,
        ["weight_bytes"] = disk.ModelBytes,
        ["mask_bytes"] = disk.MaskBytes,
        ["accumulator_bytes"] = disk.AccumulatorBytes,
    };

    private static string Percent(long part, long whole) => (100.0 * part / whole).ToString("F1", CultureInfo.InvariantCulture) + "%";

    private static string FormatFlops(long flops)
    {
        string[] units = ["FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP", "EFLOP"];
        double value = flops;
        var unit = 0;
        while (value >= 1000 && unit < units.Length - 1)
        {
            value /= 1000;
            unit++;
        }

        return value.ToString(unit == 0 ? "F0" : "F1", CultureInfo.InvariantCulture) + " " + units[unit];
    }
}
