using System.CommandLine;
using System.Text.Json.Nodes;
using Copal.Coordinator.Cli.Hosting;
using Copal.Coordinator.Cli.Jobs;
using Copal.Pruning.Metrics;
using TorchSharp;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// `copal bench perf`: how close the engine runs to what the machine can do, measured side by
/// side in one run (so other load on the machine affects both sides of every ratio alike).
/// </summary>
public static class PerfCommand
{
    public static Command Create()
    {
        var report = CommonOptions.Report();
        var samples = new Option<int>("--samples") { Description = "calibration samples of the measured forward and stages", DefaultValueFactory = _ => PerfSettings.DefaultSamples };
        var seqLen = new Option<int>("--seqlen") { Description = "sequence length L of the samples", DefaultValueFactory = _ => PerfSettings.DefaultSeqLen };
        var dtype = CommonOptions.DType();
        var batch = CommonOptions.BatchSize();
        var threads = CommonOptions.Threads();
        var repeat = new Option<int>("--repeat") { Description = "rounds of forward and stages, interleaved: rates are the fastest round's, ratios the median of the rounds'", DefaultValueFactory = _ => 3 };
        var hidden = new Option<int>("--hidden") { Description = "hidden size of the generated model", DefaultValueFactory = _ => PerfSettings.DefaultShape.Hidden };
        var intermediate = new Option<int>("--intermediate") { Description = "MLP size of the generated model", DefaultValueFactory = _ => PerfSettings.DefaultShape.Intermediate };
        var layers = new Option<int>("--layers") { Description = "decoder layers of the generated model", DefaultValueFactory = _ => PerfSettings.DefaultShape.Layers };
        var heads = new Option<int>("--heads") { Description = "attention heads of the generated model", DefaultValueFactory = _ => PerfSettings.DefaultShape.Heads };
        var vocab = new Option<int>("--vocab") { Description = "vocabulary of the generated model (at least the tokenizer's 4096)", DefaultValueFactory = _ => PerfSettings.DefaultShape.Vocab };
        var nodes = new Option<int>("--nodes") { Description = "node processes of the cluster comparison", DefaultValueFactory = _ => 3 };
        var clusterSamples = new Option<int>("--cluster-samples") { Description = "calibration samples of the cluster comparison", DefaultValueFactory = _ => PerfSettings.DefaultClusterSamples };
        var skipCluster = new Option<bool>("--skip-cluster") { Description = "skip the in-process against cluster comparison" };
        var skipScaling = new Option<bool>("--skip-scaling") { Description = "skip the scaling comparison: one process on one core against 2 nodes on a core each" };
        var skip7b = new Option<bool>("--skip-7b") { Description = "skip the peak-memory run on a generated LLaMA-7B-shaped checkpoint (13 GB on disk)" };
        var skipNodeMemory = new Option<bool>("--skip-node-memory") { Description = "skip the cluster prune of a 7B-wide checkpoint whose nodes' peak RSS is held against their plan (about 10 GB of memory)" };
        var bigMethod = new Option<string>("--7b-method") { Description = "method of the 7B-shaped run: wanda (needs 30 GB of disk) or copal (its fp32 accumulator needs 60 GB)", DefaultValueFactory = _ => "wanda" };
        var precision = CommonOptions.ImportancePrecision();
        var tokenizeMb = new Option<int>("--tokenize-mb") { Description = "megabytes of JSON lines whose tokenization is timed with each tokenizer (0: skip)", DefaultValueFactory = _ => PerfSettings.DefaultTokenizeMegabytes };
        var work = new Option<string?>("--work") { Description = "folder for the generated checkpoints, deleted afterwards (default: the system temp folder)" };
        var command = new Command("perf", "Measure throughput against the machine: dense forward, copal and wanda stages, importance GEMM, the planner's time and node memory against the measured, tokenization, cluster overhead, 2-node scaling, 7B-shaped peak memory and storage")
        {
            report, samples, seqLen, dtype, batch, threads, repeat, hidden, intermediate, layers, heads, vocab, nodes, clusterSamples, skipCluster, skipScaling, skip7b, skipNodeMemory, bigMethod, precision, tokenizeMb, work,
        };
        command.SetAction(result =>
        {
            var compute = CommonOptions.Compute(result.GetValue(dtype)!, result.GetValue(batch), result.GetValue(threads));
            var shape = new ModelShape(result.GetValue(hidden), result.GetValue(intermediate), result.GetValue(layers), result.GetValue(heads), result.GetValue(vocab), 0);
            var settings = new PerfSettings
            {
                Shape = shape,
                Samples = result.GetValue(samples),
                SeqLen = result.GetValue(seqLen),
                Compute = compute,
                Threads = result.GetValue(threads) ?? Environment.ProcessorCount,
                ImportancePrecision = CommonOptions.ParseImportancePrecision(result.GetValue(precision)!),
                Repeat = result.GetValue(repeat),
                ClusterNodes = result.GetValue(skipCluster) ? 0 : result.GetValue(nodes),
                ClusterSamples = result.GetValue(clusterSamples),
                Scaling = !result.GetValue(skipScaling),
                Run7B = !result.GetValue(skip7b),
                RunNodeMemory = !result.GetValue(skipNodeMemory),
                Method7B = Metrics.Parse(result.GetValue(bigMethod)!),
                WorkRoot = result.GetValue(work) ?? Path.GetTempPath(),
                TokenizeMegabytes = result.GetValue(tokenizeMb),
            };
            settings.Validate();
            var reportPath = result.GetValue(report);
            ReportWriter.CheckWritable(reportPath);
            JsonObject perf;
            try
            {
                perf = new PerfBench(settings).Run();
            }
            catch (NotBitIdenticalException e)
            {
                Serilog.Log.Fatal("Not bit-identical: {Reason:l}", e.Message);
                return 1;
            }

            Console.Write(PerfTable.Markdown(perf));
            if (reportPath != null)
            {
                ReportWriter.WriteJson(reportPath, perf);
                Serilog.Log.Information("Performance report written to {Report}", reportPath);
            }

            return 0;
        });
        return command;
    }

    public static string DTypeName(torch.ScalarType dtype) => dtype == torch.ScalarType.BFloat16 ? "bfloat16" : "float32";
}
