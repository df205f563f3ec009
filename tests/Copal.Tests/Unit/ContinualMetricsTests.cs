using Copal.Evaluation;
using Xunit;

namespace Copal.Tests;

/// <summary>BWT and average perplexity leave out what an extended run could not measure (NaN).</summary>
public sealed class ContinualMetricsTests
{
    [Fact]
    public void MissingPerplexitiesAreLeftOut()
    {
        double[][] p = [[10, 20, 30], [double.NaN, 12, 31], [double.NaN, 15, 9]];
        Assert.Equal(3, ContinualMetrics.BwtMean(p));
        Assert.Equal(3, ContinualMetrics.BwtMax(p));
        Assert.Equal(12, ContinualMetrics.AveragePerplexity(p));
        Assert.True(double.IsNaN(ContinualMetrics.AveragePerplexity([[double.NaN]])));
        Assert.Equal(0, ContinualMetrics.BwtMean([[double.NaN, 1], [double.NaN, 2]]));
    }
}
