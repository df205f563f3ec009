using Copal.Pruning;
using Copal.Pruning.Kernels;
using Copal.Pruning.Metrics;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>The engine's own kernels against plain torch references.</summary>
public class KernelTests
{
    [Theory]
    [InlineData(1, 8, 32, AbsGemm.Implementation.Own)]
    [InlineData(37, 19, 45, AbsGemm.Implementation.Own)]
    [InlineData(300, 136, 200, AbsGemm.Implementation.Own)]
    [InlineData(513, 130, 1030, AbsGemm.Implementation.Own)]
    [InlineData(513, 130, 1030, AbsGemm.Implementation.Torch)]
    [InlineData(37, 19, 45, AbsGemm.Implementation.Bf16)]
    [InlineData(513, 130, 1030, AbsGemm.Implementation.Bf16)]
    public void The_importance_gemm_adds_abs_y_transposed_times_abs_x(int tokens, int outFeatures, int inFeatures, AbsGemm.Implementation kernel)
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(42);
        var x = randn([tokens, inFeatures], generator: generator);
        var ys = new[] { randn([tokens, outFeatures], generator: generator), randn([tokens, outFeatures + 3], generator: generator) };
        var statistics = ys.Select(y => rand([y.shape[1], inFeatures], generator: generator)).ToArray();
        var expected = ys.Zip(statistics, (y, s) => CopalReference.Accumulate(s, x, y)).ToArray();

        AbsGemm.Accumulate(x, ys.Zip(statistics).ToList(), kernel);

        // Operands rounded to bfloat16 (8 significant bits) leave about 2^-9 / sqrt(tokens) relative error in each sum.
        var tolerance = kernel == AbsGemm.Implementation.Bf16 ? 2e-3 : 1e-5;
        for (var j = 0; j < ys.Length; j++)
        {
            Assert.True(statistics[j].allclose(expected[j], rtol: tolerance, atol: tolerance), $"output {j} differs from the reference");
        }
    }

    [Theory]
    [InlineData(AbsGemm.Implementation.Own)]
    [InlineData(AbsGemm.Implementation.Torch)]
    [InlineData(AbsGemm.Implementation.Bf16)]
    public void The_importance_gemm_equals_the_reference_where_every_sum_is_exact(AbsGemm.Implementation kernel)
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(17);

        // Integers in [-4, 4] are exact in bfloat16; every sum stays below 2^24 (513 * 16 + 16), so
        // no kernel rounds anything and the bits must match whatever the summation order. Edge
        // tiles on both sides (130 = 2 * 64 + 2 rows, 1030 = 32 * 32 + 6 columns).
        var x = randint(-4, 5, [513, 1030], generator: generator).to_type(ScalarType.Float32);
        var y = randint(-4, 5, [513, 130], generator: generator).to_type(ScalarType.Float32);
        var statistic = randint(0, 17, [130, 1030], generator: generator).to_type(ScalarType.Float32);
        var expected = CopalReference.Accumulate(statistic, x, y);

        AbsGemm.Accumulate(x, [(y, statistic)], kernel);

        Assert.True(statistic.eq(expected).all().item<bool>());
    }

    [Theory]
    [InlineData(AbsGemm.Implementation.Own)]
    [InlineData(AbsGemm.Implementation.Torch)]
    [InlineData(AbsGemm.Implementation.Bf16)]
    public void The_importance_gemm_gives_the_same_bits_whatever_the_threads(AbsGemm.Implementation kernel)
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
            AbsGemm.Accumulate(x, [(y, one)], kernel);
            set_num_threads(2);
            var two = zeros(512, 1024);
            AbsGemm.Accumulate(x, [(y, two)], kernel);
            Assert.True(one.eq(two).all().item<bool>());
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    [Theory]
    [InlineData(ImportancePrecision.Float32, ScalarType.Float32)]
    [InlineData(ImportancePrecision.Float32, ScalarType.BFloat16)]
    [InlineData(ImportancePrecision.BFloat16, ScalarType.Float32)]
    [InlineData(ImportancePrecision.BFloat16, ScalarType.BFloat16)]
    public void The_importance_gemm_sums_operands_of_the_chosen_precision_in_float32(ImportancePrecision precision, ScalarType operands)
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(13);
        var x = randn([600, 300], generator: generator).to_type(operands);
        var y = randn([600, 200], generator: generator).to_type(operands);
        var statistic = zeros(200, 300);

        // Whichever kernel runs here, the result is the float64 sum of the operands as rounded to that precision.
        var rounding = precision == ImportancePrecision.BFloat16 ? ScalarType.BFloat16 : operands;
        var expected = CopalReference.Accumulate(zeros(200, 300, ScalarType.Float64), x.to_type(rounding).to_type(ScalarType.Float64), y.to_type(rounding).to_type(ScalarType.Float64));
        AbsGemm.Accumulate(x, [(y, statistic)], precision);

        Assert.True(statistic.to_type(ScalarType.Float64).allclose(expected, rtol: 1e-5, atol: 1e-4));
        if (precision == ImportancePrecision.BFloat16 && operands == ScalarType.Float32)
        {
            // The rounding happened: float32 operands give a measurably different sum.
            var exact = CopalReference.Accumulate(zeros(200, 300, ScalarType.Float64), x.to_type(ScalarType.Float64), y.to_type(ScalarType.Float64));
            Assert.False(statistic.to_type(ScalarType.Float64).allclose(exact, rtol: 1e-5, atol: 1e-4));
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

        // Few distinct values: most rows have ties straddling the cut; then signed zeros and NaN.
        var tied = randint(0, 5, [64, 96], generator: generator).to_type(ScalarType.Float32);
        var distinct = rand([64, 96], generator: generator);
        var odd = tied.sub(2).mul(0.0).where(tied.lt(3), tied);
        odd[0, 5] = tensor(float.NaN);
        odd[3, 0] = tensor(float.NaN);
        odd[3, 1] = tensor(float.NaN);
        foreach (var scores in new[] { tied, distinct, odd })
        {
            AssertSameMask(SortedRowMask(scores, sparsity), MaskPolicy.RowKeepMask(scores, sparsity), "row mask");
            AssertSameMask(SortedRowMask(scores.reshape(1, -1), sparsity).view(scores.shape), MaskPolicy.MatrixKeepMask(scores, sparsity), "matrix mask");
        }

        // Scores the selection kernel does not take (float64) go through torch's kthvalue instead.
        foreach (var scores in new[] { tied, distinct })
        {
            var wide = scores.to_type(ScalarType.Float64);
            AssertSameMask(SortedRowMask(wide, sparsity), MaskPolicy.RowKeepMask(wide, sparsity), "row mask, float64");
            AssertSameMask(SortedRowMask(wide.reshape(1, -1), sparsity).view(scores.shape), MaskPolicy.MatrixKeepMask(wide, sparsity), "matrix mask, float64");
        }
    }

    [Fact]
    public void Pruning_rows_in_place_zeroes_what_the_keep_mask_zeroes()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(5);

        // Rounded weights: many equal magnitudes, signs mixed, so ties occur and negative weights are pruned (to +0, never -0).
        var weight = randn([40, 72], generator: generator).mul(4).round().div(4);
        var scores = randint(0, 6, [40, 72], generator: generator).to_type(ScalarType.Float32);
        var scale = rand([72], generator: generator).add(0.5);
        foreach (var sparsity in new[] { 0.5, 0.25 })
        {
            var prune = (long)Math.Floor(72 * sparsity);
            var cases = new (Tensor? Scores, Tensor? Scale, Tensor Reference)[]
            {
                (scores, null, scores),
                (null, scale, weight.abs().mul(scale.unsqueeze(0))),
                (null, null, weight.abs()),
            };
            foreach (var (s, c, reference) in cases)
            {
                var expected = weight.masked_fill(MaskPolicy.RowKeepMask(reference, sparsity).logical_not(), 0.0f);
                var actual = weight.clone();
                RowSelection.PruneRows(actual, s, c, prune);
                Assert.True(expected.bytes.SequenceEqual(actual.bytes), $"sparsity {sparsity}, scores {s is not null}, scale {c is not null}");
            }
        }
    }

    [Fact]
    public void Column_sums_of_squares_match_torch()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(11);
        foreach (var (tokens, columns) in new[] { (5, 3), (700, 1030), (2048, 96) })
        {
            var x = randn([tokens, columns], generator: generator);
            Assert.True(ColumnSquares.Of(x).allclose(x.square().sum(dim: 0), rtol: 1e-5, atol: 1e-5), $"[{tokens}, {columns}]");
        }
    }

    [Fact]
    public void Counting_zeros_matches_torch_for_every_layout()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(13);
        static long Reference(Tensor t) => t.numel() - count_nonzero(t).item<long>();

        // 2821 x 13 leaves a tail shorter than a vector; -0, NaN and infinities sit among the values.
        var x = randn([2821, 13], generator: generator);
        x.masked_fill_(rand([2821, 13], generator: generator).lt(0.4), 0);
        x.view(-1).index_put_(tensor(-0.0f), tensor(new long[] { 3, 40, 36672 }));
        x.view(-1).index_put_(tensor(float.NaN), tensor(new long[] { 5, 41 }));
        x.view(-1).index_put_(tensor(float.PositiveInfinity), tensor(new long[] { 6 }));
        var expected = Reference(x);
        Assert.InRange(expected, 14000, 15400);
        Assert.Equal(expected, ZeroCount.Of(x));
        Assert.Equal(expected, ZeroCount.Of(x.t()));
        Assert.Equal(expected, ZeroCount.Of(x.to_type(ScalarType.BFloat16)));
        Assert.Equal(Reference(x.narrow(1, 1, 7)), ZeroCount.Of(x.narrow(1, 1, 7)));
        Assert.Equal(0, ZeroCount.Of(empty(0)));
        Assert.Equal(5, ZeroCount.Of(zeros(5)));
    }

    private static void AssertSameMask(Tensor expected, Tensor actual, string what) =>
        Assert.True(expected.eq(actual).all().item<bool>(), what);

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
