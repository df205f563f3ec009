using System.Diagnostics;
using Copal.Model;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using static TorchSharp.torch;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>The GEMM part of `copal bench perf`: the importance accumulation against a plain matmul of the same shapes.</summary>
public static class GemmPerf
{
    private const int MicroRepeats = 5;

    /// <summary>
    /// GFLOP/s of a plain matmul x W^T and of the COPAL importance accumulation |Y|^T |X| (the
    /// engine's own code) at the shapes of one decoder layer's linears for one micro-batch.
    /// </summary>
    public static (double Matmul, double Importance) Rates(LlamaConfig config, long tokens, ScalarType dtype, ImportancePrecision precision)
    {
        using var noGrad = no_grad();
        double flops = 0, matmulSeconds = 0, importanceSeconds = 0;
        using var generator = new Generator(7);
        var metric = new CopalMetric(Perturbation.Relative, precision);
        foreach (var group in LlamaLinear.SharedInputs)
        {
            using var scope = NewDisposeScope();
            var inFeatures = group[0].Shape(config)[1];
            var x = randn([tokens, inFeatures], generator: generator);
            var xc = x.to_type(dtype);
            var linears = group.Select(l => (Weight: randn(l.Shape(config), generator: generator).mul_(0.02), Linear: l)).ToList();
            var weights = linears.Select(l => l.Weight.to_type(dtype)).ToList();
            // The operands the engine hands the metric: in the compute dtype where it accepts that.
            var operandDType = metric.AcceptsComputeDType ? dtype : ScalarType.Float32;
            var outputs = linears.Select(l => nn.functional.linear(x, l.Weight).to_type(operandDType)).ToList();
            var observedX = x.to_type(operandDType);
            var statistics = linears.Select(l => zeros_like(l.Weight)).ToList();
            flops += linears.Sum(l => 2.0 * tokens * l.Weight.shape[0] * l.Weight.shape[1]);
            matmulSeconds += Best(() =>
            {
                foreach (var w in weights)
                {
                    nn.functional.linear(xc, w).Dispose();
                }
            });
            var observed = linears.Select((l, i) => new ObservedLinear(statistics[i], l.Weight, outputs[i], new CalibrationSite(1, 0, l.Linear.Index, 0))).ToList();
            importanceSeconds += Best(() => metric.Accumulate(observedX, observed));
        }

        return (flops / matmulSeconds / 1e9, flops / importanceSeconds / 1e9);
    }

    private static double Best(Action action)
    {
        action();
        var best = double.MaxValue;
        for (var i = 0; i < MicroRepeats; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }

        return best;
    }
}
