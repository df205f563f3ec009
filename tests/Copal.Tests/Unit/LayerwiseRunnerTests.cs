using Copal.Nn;
using Xunit;

namespace Copal.Tests;

public class LayerwiseRunnerTests
{
    [Fact]
    public void BatchesCoverEverySequenceOnce()
    {
        Assert.Equal([(0L, 3L), (3L, 3L), (6L, 1L)], LayerwiseRunner.Batches(7, 3));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-2)]
    public void BatchesRefuseABatchSizeThatWouldNeverAdvance(int batchSize)
    {
        // Refused when asked, not when first enumerated: no caller gets a sequence that never ends.
        Assert.Throws<ArgumentOutOfRangeException>(() => LayerwiseRunner.Batches(7, batchSize));
    }
}
