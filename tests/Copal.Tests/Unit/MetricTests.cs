using Copal.Pruning;
using Copal.Pruning.Metrics;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>
/// Each metric's Accumulate, Fold and Prune on tiny tensors whose statistics, accumulators and
/// pruned weights were worked out by hand. Every value is a small integer (or exact in binary),
/// so each kernel computes it exactly and the tests compare bits.
/// </summary>
public class MetricTests
{
    private static readonly CalibrationSite Site = new(0, 0, 0, 0);

    private static readonly MaskPolicy HalfOfEachRow = new(0.5, MaskGroup.Row, null);

    [Fact]
    public void Copal_gaussian_reads_a_bfloat16_weight_as_its_float32_copy()
    {
        // A bfloat16 run hands the metric the weight as held, no float32 copy: the noise and the statistic are the same bits.
        using var scope = NewDisposeScope();
        var metric = new CopalMetric(new Perturbation(PerturbationModel.Gaussian, 0.01, 7), ImportancePrecision.Float32);
        using var generator = new Generator(3);
        var held = randn([6, 8], generator: generator).to_type(ScalarType.BFloat16);
        var x = randn([5, 8], generator: generator);
        var fromCopy = zeros(metric.StatisticShape(6, 8));
        var fromHeld = zeros(metric.StatisticShape(6, 8));
        metric.Accumulate(x, [new ObservedLinear(fromCopy, held.to_type(ScalarType.Float32), null, Site)]);
        metric.Accumulate(x, [new ObservedLinear(fromHeld, held, null, Site)]);
        Assert.True(fromCopy.abs().sum().item<float>() > 0);
        AssertExactly(fromCopy, fromHeld);
    }

    [Fact]
    public void Copal_accumulates_abs_y_transposed_times_abs_x_folds_with_abs_w_and_prunes_the_lowest_per_row()
    {
        using var scope = NewDisposeScope();
        var metric = new CopalMetric(Perturbation.Relative, ImportancePrecision.Float32);
        var w = Matrix([1, -1, 2, 1], [2, 1, -1, -2]);

        // y = x W^T: token [1, 0, 0, 2] gives (1 + 2, 2 - 4) = (3, -2); [0, 0, 1, -1] gives (2 - 1, -1 + 2) = (1, 1).
        var x1 = Matrix([1, 0, 0, 2], [0, 0, 1, -1]);
        var y1 = Matrix([3, -2], [1, 1]);

        // [0, 2, 0, 0] gives (-2, 2).
        var x2 = Matrix([0, 2, 0, 0]);
        var y2 = Matrix([-2, 2]);
        AssertExactly(y1, x1.matmul(w.t()));
        AssertExactly(y2, x2.matmul(w.t()));

        // Row o of |y|^T |x| is sum_t |y[t, o]| |x[t]|:
        // batch 1: row 0 = 3 [1, 0, 0, 2] + 1 [0, 0, 1, 1] = [3, 0, 1, 7], row 1 = 2 [1, 0, 0, 2] + [0, 0, 1, 1] = [2, 0, 1, 5];
        // batch 2: both rows 2 [0, 2, 0, 0] = [0, 4, 0, 0].
        var statistic = zeros(metric.StatisticShape(2, 4));
        metric.Accumulate(x1, [new ObservedLinear(statistic, w, y1, Site)]);
        AssertExactly(Matrix([3, 0, 1, 7], [2, 0, 1, 5]), statistic);
        metric.Accumulate(x2, [new ObservedLinear(statistic, w, y2, Site)]);
        AssertExactly(Matrix([3, 4, 1, 7], [2, 4, 1, 5]), statistic);

        // |W| . S = [1, 1, 2, 1] . [3, 4, 1, 7] = [3, 4, 2, 7] and [2, 1, 1, 2] . [2, 4, 1, 5] = [4, 4, 1, 10]; plus the carried state.
        var carried = Matrix([1, 0, 2, 0], [0, 1, 3, 0]);
        var accumulated = metric.Fold(carried, statistic, w);
        var expected = Matrix([4, 4, 4, 7], [4, 5, 4, 10]);
        AssertExactly(expected, accumulated);
        AssertExactly(expected, CopalReference.Stage(carried, w, [x1, x2]));

        // Two of four per row: row 0 ties 4, 4, 4 and prunes the lower indices 0 and 1; row 1 prunes the two 4s at 0 and 2.
        AssertExactly(Matrix([0, 0, 2, 1], [0, 1, 0, -2]), metric.Prune(w.clone(), accumulated, HalfOfEachRow));

        // Half the matrix (4 of 8, the scores' path): five 4s, the first four in row-major order go.
        AssertExactly(Matrix([0, 0, 0, 1], [0, 1, -1, -2]), metric.Prune(w.clone(), accumulated, new MaskPolicy(0.5, MaskGroup.Matrix, null)));
    }

    [Fact]
    public void Wanda_accumulates_column_sums_of_squares_and_prunes_by_abs_w_times_their_root()
    {
        using var scope = NewDisposeScope();
        var metric = new WandaMetric();
        var w = Matrix([1, -1, 2, 1], [2, 1, -1, -2]);

        // Both linears reading x get the same statistic: columns of [[1, 0, 2, 2], [1, 0, 1, 2]] squared
        // and summed are [2, 0, 5, 8]; then [0, 1, 2, 0] adds [0, 1, 4, 0].
        var statistics = new[] { zeros(metric.StatisticShape(2, 4)), zeros(metric.StatisticShape(2, 4)) };
        var linears = statistics.Select(s => new ObservedLinear(s, w, null, Site)).ToList();
        metric.Accumulate(Matrix([1, 0, 2, 2], [1, 0, 1, 2]), linears);
        metric.Accumulate(Matrix([0, 1, 2, 0]), linears);
        AssertExactly(Vector(2, 1, 9, 8), statistics[0]);
        AssertExactly(Vector(2, 1, 9, 8), statistics[1]);

        var accumulated = metric.Fold(Vector(2, 0, 0, 8), statistics[0], w);
        AssertExactly(Vector(4, 1, 9, 16), accumulated);

        // Norms [2, 1, 3, 4]; scores |W| . norms = [2, 1, 6, 4] and [4, 1, 3, 8].
        // Per row: row 0 prunes 1 and 2 (columns 1, 0), row 1 prunes 1 and 3 (columns 1, 2).
        AssertExactly(Matrix([0, 0, 2, 1], [2, 0, 0, -2]), metric.Prune(w.clone(), accumulated, HalfOfEachRow));

        // 5 of 8 over the matrix: 1, 1, 2, 3, then the first of the two 4s (row 0, column 3).
        AssertExactly(Matrix([0, 0, 2, 0], [2, 0, 0, -2]), metric.Prune(w.clone(), accumulated, new MaskPolicy(0.625, MaskGroup.Matrix, null)));
    }

    [Fact]
    public void Magnitude_needs_no_data_and_prunes_the_smallest_abs_w()
    {
        using var scope = NewDisposeScope();
        var metric = new MagnitudeMetric();
        Assert.False(metric.UsesCalibration);
        Assert.Empty(metric.StatisticShape(2, 4));
        var w = Matrix([0.5f, -3, 2, -1], [1, -0.5f, 4, -2]);

        // |W| = [0.5, 3, 2, 1] and [1, 0.5, 4, 2]: per row the 0.5 and the 1 go.
        AssertExactly(Matrix([0, -3, 2, 0], [0, 0, 4, -2]), metric.Prune(w.clone(), null, HalfOfEachRow));

        // 3 of 8 over the matrix: both 0.5s, then of the two 1s the first in row-major order (row 0, column 3).
        AssertExactly(Matrix([0, -3, 2, 0], [1, 0, 4, -2]), metric.Prune(w.clone(), null, new MaskPolicy(0.375, MaskGroup.Matrix, null)));
    }

    [Fact]
    public void SparseGpt_accumulates_x_transposed_x_and_with_a_diagonal_h_prunes_the_lowest_w_squared_times_h()
    {
        using var scope = NewDisposeScope();
        var metric = new SparseGptMetric();

        // H = sum_t x_t x_t^T: [1, 2, 0, 0] gives [[1, 2], [2, 4]] in the top left, [0, 1, -1, 0] gives
        // [[1, -1], [-1, 1]] at rows and columns 1..2, then [0, 0, 0, 3] gives 9 at [3, 3].
        var statistics = new[] { zeros(metric.StatisticShape(2, 4)), zeros(metric.StatisticShape(2, 4)) };
        var linears = statistics.Select(s => new ObservedLinear(s, zeros(2, 4), null, Site)).ToList();
        metric.Accumulate(Matrix([1, 2, 0, 0], [0, 1, -1, 0]), linears);
        metric.Accumulate(Matrix([0, 0, 0, 3]), linears);
        var h = Matrix([1, 2, 0, 0], [2, 5, -1, 0], [0, -1, 1, 0], [0, 0, 0, 9]);
        AssertExactly(h, statistics[0]);
        AssertExactly(h, statistics[1]);
        AssertExactly(h.add(eye(4)), metric.Fold(eye(4), statistics[0], zeros(2, 4)));

        // H = diag(4, 1, 0, 3): input 2 never fires, so its column is dropped. Then diag(4, 1, 1, 3) + 0.01 * 9/4:
        // H^-1 is diagonal, no error spreads, and the OBS score w^2 / [H^-1]_cc is w^2 (h_c + 0.0225):
        // row 0 [4.02, 9.2, 0, 0.76], row 1 [16.09, 1.02, 0, 3.02]. Half the block (4 of 8): both zeros,
        // 0.76 and 1.02; of the three |w| = 1 entries only the one on the smallest h goes.
        var diagonal = Matrix([4, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 3]);
        var w = Matrix([1, -3, 2, 0.5f], [-2, 1, 1, -1]);
        var expected = Matrix([1, -3, 0, 0], [-2, 0, 0, -1]);
        var pruned = metric.Prune(w.clone(), diagonal, new MaskPolicy(0.5, MaskGroup.ObsBlock, null));
        AssertExactly(expected, pruned);
        AssertExactly(Vector(2, 2), pruned.eq(0).sum(dim: 1).to_type(ScalarType.Float32));

        // 2:4 prunes the same two of each row's four.
        AssertExactly(expected, metric.Prune(w.clone(), diagonal, new MaskPolicy(0.5, MaskGroup.ObsBlock, new NmPattern(2, 4))));
    }

    private static Tensor Matrix(params float[][] rows) =>
        tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);

    private static Tensor Vector(params float[] values) => tensor(values);

    private static void AssertExactly(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
    }
}
