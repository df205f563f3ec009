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

    /// <summary>Weights plus method state: what each layer a node owns adds to its memory.</summary>
    public static long LayerBytes(PlanRequest r) =>
        checked(LayerWeightBytes(r.Config, r.WeightDType) + LayerMethodStateBytes(r.Config, r.Method));

    /// <summary>
    /// Streaming buffers: micro-batches of hidden states b x L x hidden at the activation dtype, for
    /// the in-flight window plus the one being received and the one being computed (window + 2).
    /// </summary>
    public static long StreamBufferBytes(PlanRequest r) =>
        checked((long)r.MicroBatch * r.SeqLen * r.Config.HiddenSize * r.ActivationBytes * (r.InFlight + 2));

    /// <summary>
    /// Transient intermediates of the layer being computed, in fp32: attention scores
    /// b x heads x L x L and the MLP intermediate b x L x inter. Only one layer runs at a time.
    /// </summary>
    public static long TransientBytes(PlanRequest r)
    {
        long b = r.MicroBatch, l = r.SeqLen;
        return checked((b * r.Config.NumAttentionHeads * l * l * Fp32) + (b * l * r.Config.IntermediateSize * Fp32));
    }

    /// <summary>
    /// Pruned (wave) propagation calibrates layer by layer on all samples: the node holds every
    /// sample's input and output hidden states, 2 x samples x L x hidden at the activation dtype.
    /// Dense propagation, and methods without calibration, hold none.
    /// </summary>
    public static long WaveBytes(PlanRequest r) => r.Propagation == Propagation.Pruned && Metrics.Describe(r.Method).UsesCalibration
        ? checked(2L * r.Samples * r.SeqLen * r.Config.HiddenSize * r.ActivationBytes)
        : 0;

    /// <summary>Every node's activation buffers: streaming window + transients + the wave (if any); independent of its layer count.</summary>
    public static long NodeBufferBytes(PlanRequest r) => checked(StreamBufferBytes(r) + TransientBytes(r) + WaveBytes(r));

    /// <summary>
    /// What only the last node holds: the final norm (hidden) and lm_head (vocab x hidden) at the
    /// weight dtype, and one micro-batch of fp32 logits b x L x vocab. The coordinator keeps the embedding.
    /// </summary>
    public static long HeadBytes(PlanRequest r)
    {
        var c = r.Config;
        var weights = checked(((long)c.HiddenSize + ((long)c.VocabSize * c.HiddenSize)) * r.WeightDType.ByteSize());
        return checked(weights + ((long)r.MicroBatch * r.SeqLen * c.VocabSize * Fp32));
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
