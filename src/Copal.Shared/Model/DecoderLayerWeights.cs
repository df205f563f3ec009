using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>The tensors of one decoder layer, in the compute dtype. Owns and disposes them.</summary>
public sealed class DecoderLayerWeights : IDisposable
{
    public DecoderLayerWeights(Tensor[] linears, Tensor?[] biases, Tensor inputNorm, Tensor postAttentionNorm)
    {
        if (linears.Length != LlamaLinear.All.Count || biases.Length != LlamaLinear.All.Count)
        {
            throw new ArgumentException("a decoder layer has exactly seven linears and seven bias slots", nameof(linears));
        }

        Linears = linears;
        Biases = biases;
        InputNorm = inputNorm;
        PostAttentionNorm = postAttentionNorm;
    }

    /// <summary>Indexed by <see cref="LlamaLinear.Index"/>; [out, in].</summary>
    public Tensor[] Linears { get; }

    /// <summary>Indexed by <see cref="LlamaLinear.Index"/>; [out], or null where the config gives the linear no bias.</summary>
    public Tensor?[] Biases { get; }

    public Tensor InputNorm { get; }

    public Tensor PostAttentionNorm { get; }

    public Tensor this[LlamaLinear linear] => Linears[linear.Index];

    /// <summary>Reads layer <paramref name="layer"/>, with the biases <paramref name="config"/> says the checkpoint has.</summary>
    public static DecoderLayerWeights Load(CheckpointReader weights, LlamaConfig config, int layer, ScalarType dtype) => new(
        LlamaLinear.All.Select(l => weights.Read(TensorNames.Linear(layer, l), dtype)).ToArray(),
        LlamaLinear.All.Select(l => config.HasBias(l) ? weights.Read(TensorNames.Bias(layer, l), dtype) : null).ToArray(),
        weights.Read(TensorNames.InputNorm(layer), dtype),
        weights.Read(TensorNames.PostAttentionNorm(layer), dtype));

    /// <summary>The same norms and biases with other linear weights (the pruned ones); those are shared, not copied.</summary>
    public DecoderLayerWeights WithLinears(Tensor[] linears) =>
        new(linears, Biases.Select(b => b?.alias()).ToArray(), InputNorm.alias(), PostAttentionNorm.alias());

    public void Dispose()
    {
        foreach (var t in Linears)
        {
            t.Dispose();
        }

        foreach (var b in Biases)
        {
            b?.Dispose();
        }

        InputNorm.Dispose();
        PostAttentionNorm.Dispose();
    }
}
