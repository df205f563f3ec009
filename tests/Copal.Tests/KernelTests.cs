using Copal.Pruning;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>The engine's own kernels against plain torch references.</summary>
public class KernelTests
{
    [Theory]
    [InlineData(1, 8, 32)]
    [InlineData(37, 19, 45)]
    [InlineData(300, 136, 200)]
    [InlineData(513, 130, 1030)]
    public void The_importance_gemm_adds_abs_y_transposed_times_abs_x(int tokens, int outFeatures, int inFeatures)
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(42);
        var x = randn([tokens, inFeatures], generator: generator);
        var ys = new[] { randn([tokens, outFeatures], generator: generator), randn([tokens, outFeatures + 3], generator: generator) };
        var statistics = ys.Select(y => rand([y.shape[1], inFeatures], generator: generator)).ToArray();
        var expected = ys.Zip(statistics, (y, s) => s.addmm(y.abs().t(), x.abs())).ToArray();

        AbsGemm.Accumulate(x, ys.Zip(statistics).ToList());

        for (var j = 0; j < ys.Length; j++)
        {
            Assert.True(statistics[j].allclose(expected[j], rtol: 1e-5, atol: 1e-4), $"output {j} differs from addmm");
        }
    }

    [Fact]
    public void The_importance_gemm_gives_the_same_bits_whatever_the_threads()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(7);
        var x = randn([700, 1024], generator: generator);
        var y = randn([700, 512], generator: generator);
        var threads = get_num_threads();
        try
        {
            set_num_threads(1);
            var one = zeros(512, 1024);
            AbsGemm.Accumulate(x, [(y, one)]);
            set_num_threads(2);
            var two = zeros(512, 1024);
            AbsGemm.Accumulate(x, [(y, two)]);
            Assert.True(one.eq(two).all().item<bool>());
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.3)]
    [InlineData(0.9)]
    public void Selecting_the_lowest_scores_matches_a_stable_sort_even_with_ties(double sparsity)
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(3);

        // Few distinct values: most rows have ties straddling the cut.
        var tied = randint(0, 5, [64, 96], generator: generator).to_type(ScalarType.Float32);
        var distinct = rand([64, 96], generator: generator);
        foreach (var scores in new[] { tied, distinct })
        {
            Assert.True(MaskPolicy.RowKeepMask(scores, sparsity).eq(SortedRowMask(scores, sparsity)).all().item<bool>(), "row mask");
            Assert.True(MaskPolicy.MatrixKeepMask(scores, sparsity).eq(SortedRowMask(scores.reshape(1, -1), sparsity).view(scores.shape)).all().item<bool>(), "matrix mask");
        }
    }

    /// <summary>The reference: a stable ascending sort per row, the first floor(n * s) pruned.</summary>
    private static Tensor SortedRowMask(Tensor scores, double sparsity)
    {
        var prune = (long)Math.Floor(scores.shape[1] * sparsity);
        var keep = ones_like(scores, ScalarType.Bool);
        var (_, order) = scores.sort(1, descending: false, stable: true);
        keep.scatter_(1, order.narrow(1, 0, prune), zeros(scores.shape[0], prune, ScalarType.Bool));
        return keep;
    }
}
