using Copal.Coordinator.Cluster;
using Copal.Pruning;
using Copal.Pruning.Metrics;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>What `copal bench perf` measures, and on what.</summary>
public sealed record PerfSettings
{
    /// <summary>The bundled dataset every measured stage calibrates on.</summary>
    public const string Dataset = "fiction";

    public const int DefaultSamples = 32;
    public const int DefaultSeqLen = 256;

    /// <summary>
    /// Big enough that the linears dominate (compute-bound), small enough to generate in seconds;
    /// 6 layers so the 3 nodes of the cluster comparison hold 2 each, as a real model's layers
    /// split evenly (with 4, the node holding 2 of them would set the pace for all).
    /// </summary>
    public static ModelShape DefaultShape { get; } = new(1024, 2816, 6, 16, 4096, 0);

    public required ModelShape Shape { get; init; }

    public required int Samples { get; init; }

    public required int SeqLen { get; init; }

    public required ComputeOptions Compute { get; init; }

    public required int Threads { get; init; }

    public ImportancePrecision ImportancePrecision { get; init; }

    public int Repeat { get; init; } = 3;

    /// <summary>Node processes of the cluster comparison; 0 skips it.</summary>
    public int ClusterNodes { get; init; } = 3;

    /// <summary>
    /// Calibration samples of the cluster comparison: the protocol's default, as a real stage has.
    /// With few micro-batches a pipeline of N nodes spends most of a stage filling and draining.
    /// </summary>
    public int ClusterSamples { get; init; } = DefaultClusterSamples;

    public const int DefaultClusterSamples = 128;

    /// <summary>Whether the scaling part runs: one process on one core against <see cref="ScalingPerf.Nodes"/> nodes with a core each.</summary>
    public bool Scaling { get; init; } = true;

    public bool Run7B { get; init; } = true;

    /// <summary>Runs the cluster prune whose nodes' peak memory is held against their plan (<see cref="NodeMemoryPerf"/>).</summary>
    public bool RunNodeMemory { get; init; } = true;

    public PruningMethod Method7B { get; init; } = PruningMethod.Wanda;

    /// <summary>Samples and length of the 7B-shaped run: memory, not speed, is measured there.</summary>
    public int Samples7B { get; init; } = 2;

    public int SeqLen7B { get; init; } = 64;

    public required string WorkRoot { get; init; }

    /// <summary>Megabytes of JSON lines the tokenization part writes and tokenizes; 0 skips it.</summary>
    public int TokenizeMegabytes { get; init; } = DefaultTokenizeMegabytes;

    public const int DefaultTokenizeMegabytes = 64;

    /// <summary>Tokens of one measured forward or stage: samples x L.</summary>
    /// <summary>The settings of one timed stage of <paramref name="method"/>: half of the weights in the method's default groups, dense propagation, these samples.</summary>
    public PruningSettings StageSettings(PruningMethod method, Strategy strategy) => new()
    {
        Method = method,
        Strategy = strategy,
        Propagation = Propagation.Dense,
        Mask = new MaskPolicy(0.5, Metrics.Describe(method).DefaultGroup, null),
        Samples = Samples,
        SeqLen = SeqLen,
        ImportancePrecision = PruningSettings.PrecisionFor(method, ImportancePrecision),
    };

    public long Tokens => (long)Samples * SeqLen;

    /// <summary>The generated model's positions: exactly the sequence length.</summary>
    public ModelShape ModelShape => Shape with { Positions = SeqLen };

    public void Validate()
    {
        if (Samples < 1 || SeqLen < 2 || Repeat < 1 || ClusterNodes < 0 || ClusterSamples < 1)
        {
            throw new CopalInputException("--samples, --cluster-samples and --repeat must be at least 1, --seqlen at least 2, --nodes at least 0");
        }

        if (TokenizeMegabytes < 0)
        {
            throw new CopalInputException($"--tokenize-mb must be at least 0, got {TokenizeMegabytes}");
        }

        if (Shape.Hidden < 2 || Shape.Intermediate < 1 || Shape.Layers < 1 || Shape.Heads < 1)
        {
            throw new CopalInputException("--hidden, --intermediate, --layers and --heads must be positive");
        }

        if (ClusterNodes > Shape.Layers)
        {
            throw new CopalInputException($"--nodes {ClusterNodes}: the generated model has only {Shape.Layers} layers");
        }

        if (Scaling && (CpuPinning.Allowed().Count < ScalingPerf.Nodes || !CpuPinning.Available))
        {
            throw new CopalInputException($"the scaling part pins processes to {ScalingPerf.Nodes} CPUs with taskset: this process may use {CpuPinning.Allowed().Count} and taskset is {(CpuPinning.Available ? "" : "not ")}on the PATH; --skip-scaling skips it");
        }

        if (!Directory.Exists(WorkRoot))
        {
            throw new CopalInputException($"--work {WorkRoot}: folder not found");
        }
    }
}
