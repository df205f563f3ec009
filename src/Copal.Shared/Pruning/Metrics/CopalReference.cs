using static TorchSharp.torch;

namespace Copal.Pruning.Metrics;

/// <summary>
/// COPAL's importance in plain torch, to read beside <see cref="CopalMetric"/> (which computes the
/// same with the kernels of Pruning/Kernels, in place) and to test it against. Malla et al., 2024,
/// "COPAL: Continual Pruning in Large Language Generative Models", Algorithm 1, linear case:
/// W*_i = W*_(i-1) + sum_j |W . 2 dy_j x_j^T| over the calibration micro-batches j of dataset i.
/// Summed per token t the term is |W| . |dy_t| |x_t|^T, i.e. |W| . (|dy|^T |x|) for a micro-batch
/// x [tokens, in], dy [tokens, out]. The relative perturbation gives dy = 2 eps y with y = x W^T;
/// the constant factor changes no ranking and is dropped: W*_i = W*_(i-1) + |W| . sum_j |y_j|^T |x_j|.
/// </summary>
public static class CopalReference
{
    /// <summary>statistic + |y|^T |x| ([out, in]) for one micro-batch x [tokens, in], y [tokens, out].</summary>
    public static Tensor Accumulate(Tensor statistic, Tensor x, Tensor y) =>
        statistic.add(y.abs().t().matmul(x.abs()));

    /// <summary>The accumulator after a stage: |W| . statistic, plus what earlier stages carried (null: nothing yet).</summary>
    public static Tensor Fold(Tensor? carried, Tensor statistic, Tensor weight)
    {
        var folded = weight.abs().mul(statistic);
        return carried is null ? folded : folded.add(carried);
    }

    /// <summary>W*_i for one linear: one stage's micro-batches <paramref name="inputs"/> through the dense weight, folded onto W*_(i-1).</summary>
    public static Tensor Stage(Tensor? carried, Tensor weight, IEnumerable<Tensor> inputs)
    {
        var statistic = zeros(weight.shape);
        foreach (var x in inputs)
        {
            var y = x.matmul(weight.t());
            statistic = Accumulate(statistic, x, y);
        }

        return Fold(carried, statistic, weight);
    }
}
