using Xunit;

namespace Copal.Tests;

public class ForwardGoldenTests
{
    [Fact]
    public void LogitsOfTheFirstTestTokensMatchTheReference() =>
        GoldenChecks.Logits(Golden.TinyMix.GetProperty("logits"), RepoPaths.TinyModel);

    [Fact]
    public void DensePerplexityAndTokenCountsMatchTheReference() =>
        GoldenChecks.DensePerplexity(Golden.TinyMix, RepoPaths.TinyModel, datasetCount: 4);
}
