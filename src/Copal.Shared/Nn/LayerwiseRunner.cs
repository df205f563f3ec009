using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Nn;

/// <summary>
/// Runs many sequences through the decoder layer by layer: each layer's weights are loaded
/// once, applied to every micro-batch, then released. Only one layer is in memory at a time.
/// </summary>
public static class LayerwiseRunner
{
    /// <param name="hidden">[N, T, H]; consumed (disposed) and replaced by the returned tensor.</param>
    public static Tensor RunLayers(
        Tensor hidden,
        IEnumerable<int> layers,
        Func<int, DecoderLayerWeights> load,
        LlamaConfig config,
        RotaryEmbedding rope,
        ComputeOptions compute,
        Action<int>? layerDone = null)
    {
        foreach (var layer in layers)
        {
            using var weights = load(layer);
            var next = ApplyLayer(hidden, weights, config, rope, compute, null);
            hidden.Dispose();
            hidden = next;
            layerDone?.Invoke(layer);
        }

        return hidden;
    }

    /// <summary>One layer over all sequences, in micro-batches of <see cref="ComputeOptions.BatchSize"/>.</summary>
    public static Tensor ApplyLayer(Tensor hidden, DecoderLayerWeights weights, LlamaConfig config, RotaryEmbedding rope, ComputeOptions compute, ILinearObserver? observer, Action<long>? batchStarting = null)
    {
        var output = empty_like(hidden);
        using (no_grad())
        {
            foreach (var (start, length) in Batches(hidden.shape[0], compute.BatchSize))
            {
                using var scope = NewDisposeScope();
                batchStarting?.Invoke(start);
                var result = LlamaOps.DecoderLayer(hidden.narrow(0, start, length), weights, config, rope, observer);
                output.narrow(0, start, length).copy_(result);
            }
        }

        return output;
    }

    public static IEnumerable<(long Start, long Length)> Batches(long count, int batchSize)
    {
        // Refused here rather than on first enumeration: a batch of 0 would never advance.
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        return Starts();

        IEnumerable<(long Start, long Length)> Starts()
        {
            for (long start = 0; start < count; start += batchSize)
            {
                yield return (start, Math.Min(batchSize, count - start));
            }
        }
    }
}
