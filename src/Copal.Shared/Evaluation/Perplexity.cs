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

    /// <summary>Evaluates token windows through the given layers (dense or pruned).</summary>
    public static PerplexityResult Evaluate(
        string dataset,
        int[] tokens,
        int seqLen,
        int? maxWindows,
        LlamaConfig config,
        ModelHead head,
        Func<int, DecoderLayerWeights> layers,
        ComputeOptions compute,
        IProgress<WorkProgress>? progress = null)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var windows = Windows(tokens, seqLen, maxWindows);
        using var rope = new RotaryEmbedding(config.HeadDim, config.RopeTheta, seqLen, compute.DType);
        var hidden = head.Embed(windows);
        var task = $"eval {dataset}";
        var total = config.NumHiddenLayers + 1;
        hidden = LayerwiseRunner.RunLayers(hidden, Enumerable.Range(0, config.NumHiddenLayers), layers, config, rope, compute, l => progress?.Report(new WorkProgress(task, l + 1, total)));
        var nll = NllSum(hidden, windows, head, config, compute);
        progress?.Report(new WorkProgress(task, total, total));
        var predicted = windows.shape[0] * (seqLen - 1);
        return new PerplexityResult(dataset, Math.Exp(nll / predicted), tokens.Length, (int)windows.shape[0], nll);
    }

    /// <summary>Sum of next-token NLL of every window, computed in float32 per batch and summed in double.</summary>
    public static double NllSum(Tensor hidden, Tensor windows, ModelHead head, LlamaConfig config, ComputeOptions compute)
    {
        double sum = 0;
        var length = windows.shape[1];
        foreach (var (start, count) in LayerwiseRunner.Batches(windows.shape[0], compute.BatchSize))
        {
            using var scope = NewDisposeScope();
            var logits = LlamaOps.Logits(hidden.narrow(0, start, count), head, config).to_type(ScalarType.Float32);
            var predictions = logits.narrow(1, 0, length - 1).reshape(-1, logits.shape[2]);
            var targets = windows.narrow(0, start, count).narrow(1, 1, length - 1).reshape(-1);
            sum += nn.functional.cross_entropy(predictions, targets, reduction: nn.Reduction.Sum).to_type(ScalarType.Float64).item<double>();
        }

        return sum;
    }
}
