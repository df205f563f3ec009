using static TorchSharp.torch;

namespace Copal;

/// <summary>How tensors are computed: dtype of weights and activations, and work batch size.</summary>
public sealed record ComputeOptions
{
    public ScalarType DType { get; init; } = ScalarType.Float32;

    /// <summary>Sequences per forward call (a micro-batch).</summary>
    public int BatchSize { get; init; } = 8;

    public static ComputeOptions Default { get; } = new();
}
