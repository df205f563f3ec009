using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>The tensors of one decoder layer, in the compute dtype. Owns and disposes them.</summary>
public sealed class DecoderLayerWeights : IDisposable
{
    public DecoderLayerWeights(Tensor[] linears, Tensor inputNorm, Tensor postAttentionNorm)
    {
        if (linears.Length != LlamaLinear.All.Count)
        {
            throw new ArgumentException("a decoder layer has exactly seven linears", nameof(linears));
        }

        Linears = linears;
        InputNorm = inputNorm;
        PostAttentionNorm = postAttentionNorm;
    }

    /// <summary>Indexed by <see cref="LlamaLinear.Index"/>; [out, in].</summary>
    public Tensor[] Linears { get; }

    public Tensor InputNorm { get; }

    public Tensor PostAttentionNorm { get; }

    public Tensor this[LlamaLinear linear] => Linears[linear.Index];

    public static DecoderLayerWeights Load(CheckpointReader weights, int layer, ScalarType dtype) => new(
        LlamaLinear.All.Select(l => weights.Read(TensorNames.Linear(layer, l), dtype)).ToArray(),
        weights.Read(TensorNames.InputNorm(layer), dtype),
        weights.Read(TensorNames.PostAttentionNorm(layer), dtype));

    /// <summary>The same norms with other linear weights (the pruned ones); the norms are shared, not copied.</summary>
    public DecoderLayerWeights WithLinears(Tensor[] linears) => new(linears, InputNorm.alias(), PostAttentionNorm.alias());

    public void Dispose()
    {
        foreach (var t in Linears)
        {
            t.Dispose();
        }

        InputNorm.Dispose();
        PostAttentionNorm.Dispose();
    }
}
