using Copal.Evaluation;
using Copal.Model;
using Copal.Pruning;
using Copal.Pruning.Metrics;

namespace Copal.Planning;

/// <summary>
/// The memory and FLOP model of the planner: what one decoder layer, one node's buffers and the
/// head cost. All sums are checked: a request too large for 64-bit counts is refused upstream.
/// </summary>
public static class CostModel
{
    private const long Fp32 = 4;

    /// <summary>Temporaries of one layer's forward per token, counted in LlamaOps (see <see cref="TransientBytes"/>).</summary>
    private const long HiddenSizedTemporaries = 24;
    private const long IntermediateSizedTemporaries = 3;

    /// <summary>Parameters of the seven linears of one layer: sum of out x in.</summary>
    public static long LinearParams(LlamaConfig c) => LlamaLinear.All.Sum(l => LinearParams(c, l));

    public static long LinearParams(LlamaConfig c, LlamaLinear linear)
    {
        var shape = linear.Shape(c);
        return checked(shape[0] * shape[1]);
    }

    /// <summary>Bias parameters of one layer: out of each linear that has one (attention_bias, mlp_bias).</summary>
    public static long BiasParams(LlamaConfig c) => LlamaLinear.All.Where(c.HasBias).Sum(l => l.Shape(c)[0]);

    /// <summary>Parameters of one layer: the seven linears, their biases, and the two RMSNorm weights (hidden each).</summary>
    public static long LayerParams(LlamaConfig c) => checked(LinearParams(c) + BiasParams(c) + (2L * c.HiddenSize));

    /// <summary>Weights: every parameter of the layer at the checkpoint's dtype.</summary>
    public static long LayerWeightBytes(LlamaConfig c, StorageType weightDType) => checked(LayerParams(c) * weightDType.ByteSize());

    /// <summary>The method's fp32 state for one linear [out, in], as its metric states it.</summary>
    public static long LinearStateBytes(LlamaConfig c, LlamaLinear linear, PruningMethod method)
    {
        var shape = linear.Shape(c);
        return Metrics.Describe(method).StateBytes(shape[0], shape[1]);
    }

    /// <summary>The method's state over the seven linears of one layer.</summary>
    public static long LayerMethodStateBytes(LlamaConfig c, PruningMethod method) =>
        LlamaLinear.All.Sum(l => LinearStateBytes(c, l, method));

    /// <summary>
    /// Weights as a node holds them: every parameter of the layer in the compute dtype it loads
    /// them in (<see cref="PlanRequest.ActivationBytes"/>), whatever dtype the checkpoint stores.
    /// </summary>
    public static long LayerHeldWeightBytes(PlanRequest r) => checked(LayerParams(r.Config) * r.ActivationBytes);

    /// <summary>Held weights plus method state: what each layer a node owns adds to its memory.</summary>
    public static long LayerBytes(PlanRequest r) =>
        checked(LayerHeldWeightBytes(r) + LayerMethodStateBytes(r.Config, r.Method));

    /// <summary>
    /// What a node process holds whatever its layers, measured on CPU: the .NET runtime, Akka,
    /// libtorch's code and thread pools, paged in by a whole prune (317 MB, the peak of a node
    /// pruning a tiny model: node_memory.runtime of `copal bench perf`, docs/performance.md).
    /// A GPU node's device holds its CUDA context instead (docs/cluster.md).
    /// </summary>
    public const long RuntimeBytes = 320L << 20;

    /// <summary>
    /// Finishing a layer (fold, mask, write) one linear at a time: the float32 copy of the
    /// largest linear when the compute dtype is not float32, and the bytes the shard's writer
    /// may hold while its background thread writes them.
    /// </summary>
    public static long FinishBytes(PlanRequest r)
    {
        var copy = r.ActivationBytes == Fp32 ? 0 : LlamaLinear.All.Max(l => LinearParams(r.Config, l)) * Fp32;
        return checked(copy + SafetensorsWriter.MaxPendingBytes);
    }

    /// <summary>
    /// Streaming buffers: micro-batches of hidden states b x L x hidden at the activation dtype, for
    /// the in-flight window plus the one being received and the one being computed (window + 2).
    /// </summary>
    public static long StreamBufferBytes(PlanRequest r) =>
        checked((long)r.MicroBatch * r.SeqLen * r.Config.HiddenSize * r.ActivationBytes * (r.InFlight + 2));

    /// <summary>
    /// Transient intermediates of the layer being computed, in the compute dtype: its forward keeps
    /// every temporary until the layer returns, about 24 hidden-sized tensors per token (two
    /// RMSNorms of three each, q/k/v, the rotary embedding's four and a half for q and for k, the
    /// attention output and its reshaped copy, o, the residual, down) and 3 intermediate-sized
    /// ones (gate, up, their product). Attention scores (b x heads x L x L) are not held: the
    /// fused scaled_dot_product_attention kernels, on CPU and CUDA alike, work block by block.
    /// Only one layer runs at a time.
    /// </summary>
    public static long TransientBytes(PlanRequest r)
    {
        long tokens = (long)r.MicroBatch * r.SeqLen;
        return checked(tokens * ((HiddenSizedTemporaries * r.Config.HiddenSize) + (IntermediateSizedTemporaries * r.Config.IntermediateSize)) * r.ActivationBytes);
    }

    /// <summary>
    /// Pruned (wave) propagation calibrates layer by layer on all samples: the node holds every
    /// sample's input and output hidden states, 2 x samples x L x hidden at the activation dtype.
    /// Dense propagation, and methods without calibration, hold none.
    /// </summary>
    public static long WaveBytes(PlanRequest r) => r.Propagation == Propagation.Pruned && Metrics.Describe(r.Method).UsesCalibration
        ? checked(2L * r.Samples * r.SeqLen * r.Config.HiddenSize * r.ActivationBytes)
        : 0;

    /// <summary>
    /// Every node's buffers: streaming window + the wave (if any) + a layer's forward transients
    /// + finishing a layer; independent of its layer count. Finishing comes after the forward,
    /// but does not get its room back: the forward's temporaries below glibc's mmap threshold
    /// (32 MB for local nodes) stay in the heap, as a GPU's caching allocator keeps freed blocks.
    /// </summary>
    public static long NodeBufferBytes(PlanRequest r) => checked(StreamBufferBytes(r) + WaveBytes(r) + TransientBytes(r) + FinishBytes(r));

    /// <summary>
    /// What only the last node holds: the final norm (hidden) and lm_head (vocab x hidden) in the
    /// compute dtype, and the fp32 logits of one micro-batch, b x L x vocab, of which evaluation
    /// holds at most <see cref="Perplexity.LogitChunk"/> (or one position of the micro-batch) at
    /// once. The coordinator keeps the embedding.
    /// </summary>
    public static long HeadBytes(PlanRequest r)
    {
        var c = r.Config;
        var weights = checked(((long)c.HiddenSize + ((long)c.VocabSize * c.HiddenSize)) * r.ActivationBytes);
        var logits = Math.Min(checked((long)r.MicroBatch * r.SeqLen * c.VocabSize), Math.Max(Perplexity.LogitChunk, (long)r.MicroBatch * c.VocabSize));
        return checked(weights + (logits * Fp32));
    }

    /// <summary>
    /// Forward FLOPs of one layer per token: 2 x linear params (a multiply-add per weight) plus
    /// attention, QK^T and AV at 2 x L x (heads x head_dim) each, halved by the causal mask on
    /// average: 2 x L x heads x head_dim. Norms, RoPE, softmax and SiLU are lower order and left out.
    /// </summary>
    public static long LayerForwardFlopsPerToken(LlamaConfig c, int seqLen) =>
        checked((2 * LinearParams(c)) + (2L * seqLen * c.NumAttentionHeads * c.HeadDim));

    /// <summary>The method's own FLOPs per layer per token, as its metric states them for each linear.</summary>
    public static long LayerMethodFlopsPerToken(LlamaConfig c, PruningMethod method)
    {
        var metric = Metrics.Describe(method);
        return LlamaLinear.All.Sum(l => metric.FlopsPerToken(l.Shape(c)[0], l.Shape(c)[1]));
    }

    /// <summary>
    /// FLOPs of one layer per stage, over samples x L tokens: the forward (twice with pruned
    /// propagation, which re-runs the pruned layer to produce its outputs) plus the method's own.
    /// Magnitude runs no calibration: 0.
    /// </summary>
    public static long LayerFlopsPerStage(PlanRequest r)
    {
        if (!Metrics.Describe(r.Method).UsesCalibration)
        {
            return 0;
        }

        var forwards = r.Propagation == Propagation.Pruned ? 2 : 1;
        var perToken = checked((forwards * LayerForwardFlopsPerToken(r.Config, r.SeqLen)) + LayerMethodFlopsPerToken(r.Config, r.Method));
        return checked(perToken * r.TokensPerStage);
    }

    /// <summary>Calibration hidden states crossing one node boundary per stage: samples x L x hidden at the activation dtype (0 for magnitude).</summary>
    public static long BytesPerBoundary(PlanRequest r) => Metrics.Describe(r.Method).UsesCalibration
        ? checked(r.TokensPerStage * r.Config.HiddenSize * r.ActivationBytes)
        : 0;
}
