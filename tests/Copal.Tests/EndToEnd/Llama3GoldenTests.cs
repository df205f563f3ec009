using Copal.Model;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// tiny-l3 (Llama 3.1 layout: tokenizer.json, rope_scaling llama3, GQA, head_dim 16, tied
/// embeddings, BF16 weights) against the independent reference: dense logits and perplexity.
/// </summary>
public class Llama3GoldenTests
{
    [Fact]
    public void TheModelIsLlama3Shaped()
    {
        using var model = LlamaModel.Open(RepoPaths.TinyL3Model);
        var c = model.Config;
        Assert.Equal(new Llama3RopeScaling(32, 1, 4, 8192), c.RopeScaling);
        Assert.Equal((4, 2, 16, 128256, true, (int?)128000), (c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.VocabSize, c.TieWordEmbeddings, c.BosTokenId));
        Assert.All(model.Weights.Tensors, e => Assert.Equal(StorageType.BF16, e.DType));
    }

    [Fact]
    public void LogitsOfTheFirstTestTokensMatchTheReference() =>
        GoldenChecks.Logits(Golden.TinyL3.GetProperty("logits"), RepoPaths.TinyL3Model);

    /// <summary>At these late positions, ignoring rope_scaling would move the logits by about 5e-4 of the row scale.</summary>
    [Fact]
    public void LogitsOfAFullWindowMatchTheReference() =>
        GoldenChecks.Logits(Golden.TinyL3.GetProperty("logits_256"), RepoPaths.TinyL3Model);

    [Fact]
    public void DensePerplexityAndTokenCountsMatchTheReference() =>
        GoldenChecks.DensePerplexity(Golden.TinyL3, RepoPaths.TinyL3Model, datasetCount: 4);
}
