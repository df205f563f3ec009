using Copal.Model;
using Copal.Pruning;

namespace Copal.Planning;

/// <summary>One GPU node process of the pipeline and the memory it may use.</summary>
public sealed record NodeCapacity(string NodeId, long MemoryBytes);

/// <summary>What is to be planned: a model, the pruning method and the shape of the calibration traffic.</summary>
public sealed record PlanRequest
{
    private readonly Propagation? propagation;
    private readonly int? seqLen;

    public required LlamaConfig Config { get; init; }

    /// <summary>The model's name in messages (a preset name or the checkpoint folder).</summary>
    public string ModelName { get; init; } = "the model";

    public StorageType WeightDType { get; init; } = ModelPresets.WeightDType;

    public PruningMethod Method { get; init; } = PruningMethod.Copal;

    /// <summary>Defaults to the method's own (dense for copal, pruned for the baselines).</summary>
    public Propagation Propagation
    {
        get => propagation ?? Pruning.Metrics.Metrics.Describe(Method).DefaultPropagation;
        init => propagation = value;
    }

    /// <summary>Calibration samples per stage (per dataset).</summary>
    public int Samples { get; init; } = 128;

    /// <summary>Defaults to min(max_position_embeddings, 2048), as the protocol does.</summary>
    public int SeqLen
    {
        get => seqLen ?? Math.Min(Config.MaxPositionEmbeddings, 2048);
        init => seqLen = value;
    }

    /// <summary>Sequences per micro-batch flowing through the pipeline.</summary>
    public int MicroBatch { get; init; } = 8;

    /// <summary>Micro-batches a node may have in flight (sent but not yet acknowledged downstream).</summary>
    public int InFlight { get; init; } = 4;

    /// <summary>Bytes per element of the compute dtype, in which nodes hold activations and weights: 2 for bf16 (the GPU default), 4 for fp32.</summary>
    public int ActivationBytes { get; init; } = 2;

    /// <summary>Tokens of calibration per stage: samples x L.</summary>
    public long TokensPerStage => (long)Samples * SeqLen;

    /// <summary>Micro-batches per stage: ceil(samples / micro-batch).</summary>
    public int MicroBatches => (Samples + MicroBatch - 1) / MicroBatch;

    /// <summary>Refuses values no plan can be made for.</summary>
    public void Validate()
    {
        static void AtLeast(string name, long value, long min)
        {
            if (value < min)
            {
                throw new CopalInputException($"{name} must be at least {min}, got {value}");
            }
        }

        AtLeast("samples", Samples, 1);
        AtLeast("seqlen", SeqLen, 2);
        AtLeast("micro-batch", MicroBatch, 1);
        AtLeast("in-flight", InFlight, 1);
        if (SeqLen > Config.MaxPositionEmbeddings)
        {
            throw new CopalInputException($"seqlen {SeqLen} exceeds the model's max_position_embeddings {Config.MaxPositionEmbeddings}");
        }

        if (ActivationBytes is not (2 or 4))
        {
            throw new CopalInputException($"activation bytes must be 2 (bf16) or 4 (fp32), got {ActivationBytes}");
        }
    }
}
