using Copal.Pruning;
using Copal.Pruning.Metrics;
using Xunit;

namespace Copal.Tests;

/// <summary>Each method is known by its metric: name, defaults and state size come from it alone.</summary>
public class MetricRegistryTests
{
    [Theory]
    [InlineData("copal", MaskGroup.Row, Propagation.Dense, Strategy.Copal, true, true)]
    [InlineData("wanda", MaskGroup.Row, Propagation.Pruned, Strategy.Reset, true, false)]
    [InlineData("magnitude", MaskGroup.Matrix, Propagation.Pruned, Strategy.Reset, false, false)]
    [InlineData("sparsegpt", MaskGroup.ObsBlock, Propagation.Pruned, Strategy.Reset, true, false)]
    public void AMetricStatesItsDefaults(string name, MaskGroup group, Propagation propagation, Strategy strategy, bool calibrates, bool gemm)
    {
        var metric = Metrics.Describe(Metrics.Parse(name));
        Assert.Equal(name, metric.Name);
        Assert.Equal(group, metric.DefaultGroup);
        Assert.Equal(propagation, metric.DefaultPropagation);
        Assert.Equal(strategy, metric.DefaultStrategy);
        Assert.Equal(calibrates, metric.UsesCalibration);
        Assert.Equal(gemm, metric.HasImportanceGemm);
    }

    [Theory]
    [InlineData("copal", 3 * 5 * 4, 2 * 3 * 5)]
    [InlineData("wanda", 5 * 4, 2 * 5)]
    [InlineData("magnitude", 0, 0)]
    [InlineData("sparsegpt", 5 * 5 * 4, 2 * 5 * 5)]
    public void AMetricStatesItsStateAndWorkPerLinear(string name, long stateBytes, long flops)
    {
        IImportanceMetric metric = Metrics.Describe(Metrics.Parse(name));
        Assert.Equal(stateBytes, metric.StateBytes(3, 5));
        Assert.Equal(flops, metric.FlopsPerToken(3, 5));
    }

    [Fact]
    public void AnUnknownNameListsTheKnownOnes()
    {
        Assert.Equal(["copal", "wanda", "magnitude", "sparsegpt"], Metrics.Names);
        var error = Assert.Throws<CopalInputException>(() => Metrics.Parse("obs"));
        Assert.Equal("unknown method 'obs' (copal, wanda, magnitude, sparsegpt)", error.Message);
    }

    [Fact]
    public void OnlyAnImportanceGemmKeepsTheRequestedPrecision()
    {
        Assert.Equal(ImportancePrecision.BFloat16, PruningSettings.PrecisionFor(PruningMethod.Copal, ImportancePrecision.BFloat16));
        Assert.Equal(ImportancePrecision.Float32, PruningSettings.PrecisionFor(PruningMethod.Wanda, ImportancePrecision.BFloat16));
    }
}
