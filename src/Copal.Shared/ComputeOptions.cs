using static TorchSharp.torch;

namespace Copal;

/// <summary>How tensors are computed: dtype of weights and activations, and work batch size.</summary>
public sealed record ComputeOptions
{
    public ScalarType DType { get; init; } = ScalarType.Float32;

    /// <summary>Sequences per forward call (a micro-batch).</summary>
    public int BatchSize { get; init; } = 8;

    public static ComputeOptions Default { get; } = new();

    /// <summary>Refuses options no run can compute with, naming the faulty one as <paramref name="names"/> calls it.</summary>
    public void Check(SettingNames names)
    {
        InputChecks.AtLeast(BatchSize, 1, names.BatchSize);
        if (DType is not (ScalarType.Float32 or ScalarType.BFloat16))
        {
            throw new CopalInputException($"{names.DType} must be float32 or bfloat16, got {DType}");
        }
    }
}
