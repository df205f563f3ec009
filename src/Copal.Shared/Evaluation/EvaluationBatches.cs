using Copal.Nn;
using static TorchSharp.torch;

namespace Copal.Evaluation;

/// <summary>
/// One dataset's evaluation as the protocol defines it, split into micro-batches of windows:
/// each micro-batch's NLL sum is added as it comes (in any order), and the result sums them in
/// micro-batch order, in double. In one process and across the cluster alike, so both give the
/// same bits.
/// </summary>
public sealed class EvaluationBatches : IDisposable
{
    private readonly List<(long Start, long Length)> batches;
    private readonly double?[] nll;
    private readonly int tokens;

    public EvaluationBatches(string dataset, int[] tokens, int seqLen, int? maxWindows, int batchSize)
    {
        Dataset = dataset;
        SeqLen = seqLen;
        this.tokens = tokens.Length;
        Windows = Perplexity.Windows(tokens, seqLen, maxWindows);
        batches = LayerwiseRunner.Batches(Windows.shape[0], batchSize).ToList();
        nll = new double?[batches.Count];
    }

    public string Dataset { get; }

    public int SeqLen { get; }

    /// <summary>[W, L] int64 token windows.</summary>
    public Tensor Windows { get; }

    public int Count => batches.Count;

    /// <summary>Windows Start .. Start + Length - 1 make micro-batch <paramref name="index"/>.</summary>
    public (long Start, long Length) this[int index] => batches[index];

    /// <summary>The NLL sum of micro-batch <paramref name="index"/>.</summary>
    public void Add(int index, double nllSum)
    {
        if (nll[index] is not null)
        {
            throw new InvalidOperationException($"micro-batch {index} of {Dataset} was evaluated twice");
        }

        nll[index] = nllSum;
    }

    public PerplexityResult Result()
    {
        var sum = 0.0;
        for (var i = 0; i < nll.Length; i++)
        {
            sum += nll[i] ?? throw new InvalidOperationException($"micro-batch {i} of {Dataset} was not evaluated");
        }

        var windows = Windows.shape[0];
        return new PerplexityResult(Dataset, Math.Exp(sum / (windows * (SeqLen - 1))), tokens, (int)windows, sum);
    }

    public void Dispose() => Windows.Dispose();
}
