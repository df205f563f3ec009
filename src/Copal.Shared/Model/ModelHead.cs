using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>The parts of the model around the decoder layers: never pruned.</summary>
public sealed class ModelHead : IDisposable
{
    public ModelHead(Tensor? embedding, Tensor finalNorm, Tensor lmHead)
    {
        Embedding = embedding;
        FinalNorm = finalNorm;
        LmHead = lmHead;
    }

    /// <summary>Null on a node that only turns hidden states into logits.</summary>
    public Tensor? Embedding { get; }

    public Tensor FinalNorm { get; }

    public Tensor LmHead { get; }

    /// <summary>[B, T] token ids to [B, T, H] hidden states.</summary>
    public Tensor Embed(Tensor tokens)
    {
        var embedding = Embedding ?? throw new InvalidOperationException("this head was loaded without the embedding");
        return embedding.index_select(0, tokens.flatten()).reshape(tokens.shape[0], tokens.shape[1], embedding.shape[1]);
    }

    public void Dispose()
    {
        Embedding?.Dispose();
        FinalNorm.Dispose();
        LmHead.Dispose();
    }
}
