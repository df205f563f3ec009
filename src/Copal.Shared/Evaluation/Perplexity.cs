using Copal.Model;
using Copal.Nn;
using static TorchSharp.torch;

namespace Copal.Evaluation;

public sealed record PerplexityResult(string Dataset, double Perplexity, long Tokens, int Windows, double NllSum);

/// <summary>
/// Perplexity as the protocol defines it: floor(N / L) non-overlapping windows of L tokens
/// (the tail dropped), next-token NLL over positions 1..L-1 of every window.
/// </summary>
public static class Perplexity
{
    public static int WindowCount(long tokens, int seqLen, int? maxWindows)
    {
        var all = (int)(tokens / seqLen);
        return maxWindows is { } w ? Math.Min(all, w) : all;
    }

    /// <summary>[W, L] int64 token windows.</summary>
    public static Tensor Windows(int[] tokens, int seqLen, int? maxWindows)
    {
        var count = WindowCount(tokens.Length, seqLen, maxWindows);
        if (count == 0)
        {
            throw new CopalInputException($"{tokens.Length} tokens are fewer than one window of {seqLen}");
        }

        var ids = new long[count * seqLen];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = tokens[i];
        }

        return tensor(ids, [count, seqLen]);
    }

    /// <summary>
    /// Evaluates token windows through a model's layers (dense or a checkpoint's), holding at most
    /// one decoder layer, or the final norm and lm_head, at a time: embedding rows are read as
    /// needed and the head is loaded only once the last layer is done.
    /// </summary>
    public static PerplexityResult Evaluate(
        string dataset,
        int[] tokens,
        int seqLen,
        int? maxWindows,
        LlamaModel model,
        LayerSource layers,
        ComputeOptions compute,
        IProgress<WorkProgress>? progress = null)
    {
        using var batches = new EvaluationBatches(dataset, tokens, seqLen, maxWindows, compute.BatchSize);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var config = model.Config;
        var windows = batches.Windows;
        using var rope = new RotaryEmbedding(config, seqLen, compute.DType);
        var task = $"eval {dataset}";
        var total = config.NumHiddenLayers + 1;
        var hidden = LayerwiseRunner.RunLayers(model.Embed(windows, compute.DType), Enumerable.Range(0, config.NumHiddenLayers), l => layers.Load(l, compute.DType), config, rope, compute, l => progress?.Report(new WorkProgress(task, l + 1, total)));
        using (var head = model.LoadHead(compute.DType, withEmbedding: false))
        {
            for (var i = 0; i < batches.Count; i++)
            {
                var (start, count) = batches[i];
                batches.Add(i, BatchNllSum(hidden.narrow(0, start, count), windows.narrow(0, start, count), head, config));
            }
        }

        progress?.Report(new WorkProgress(task, total, total));
        return batches.Result();
    }

    /// <summary>Logits of at most this many entries are alive at once (16M floats: 64 MB).</summary>
    public const long LogitChunk = 1L << 24;

    /// <summary>
    /// Sum of next-token NLL of one micro-batch of windows (float32 within it). When its logits
    /// would be large (big vocabularies, long windows) they are computed a few positions at a
    /// time, so memory stays bounded.
    /// </summary>
    public static double BatchNllSum(Tensor hidden, Tensor windows, ModelHead head, LlamaConfig config)
    {
        var (count, length) = (windows.shape[0], windows.shape[1]);
        var vocab = head.LmHead.shape[0];
        var positions = count * (length - 1) * vocab <= LogitChunk ? length - 1 : Math.Max(1, LogitChunk / (count * vocab));

        // One logits buffer for every chunk, on huge pages: a fresh one per chunk would fault in every page again.
        using var logits = TensorMemory.EmptyOnHugePages([count * positions, vocab], head.LmHead.dtype);
        double sum = 0;
        for (long first = 0; first < length - 1; first += positions)
        {
            var span = Math.Min(positions, length - 1 - first);
            using var scope = NewDisposeScope();
            var normed = LlamaOps.RmsNorm(hidden.narrow(1, first, span), head.FinalNorm, config.RmsNormEps).reshape(count * span, -1);
            var chunk = logits.narrow(0, 0, count * span);
            chunk.addmm_(normed, head.LmHead.t(), beta: 0, alpha: 1);
            var targets = windows.narrow(1, first + 1, span).reshape(-1, 1);
            sum += NllSum(chunk.dtype == ScalarType.Float32 ? chunk : chunk.to_type(ScalarType.Float32), targets);
        }

        return sum;
    }

    /// <summary>Sum over rows of logsumexp(row) - row[target], in float32; overwrites <paramref name="logits"/>.</summary>
    private static double NllSum(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var target = logits.gather(1, targets);
        var max = logits.amax([1], keepdim: true);
        logits.sub_(max).exp_();
        var logSumExp = logits.sum(1, keepdim: true).log_().add_(max);
        return logSumExp.sub_(target).sum().to_type(ScalarType.Float64).item<double>();
    }
}
