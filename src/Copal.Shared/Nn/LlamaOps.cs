using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Nn;

/// <summary>
/// The LLaMA forward as plain functions over tensors, with LlamaForCausalLM semantics:
/// RMSNorm, rotary attention with grouped-query heads, SwiGLU MLP, linear biases where the config has them.
/// </summary>
public static class LlamaOps
{
    public static Tensor RmsNorm(Tensor h, Tensor weight, double eps)
    {
        // HF normalises in float32 whatever the activations' dtype.
        var h32 = h.to_type(ScalarType.Float32);
        var variance = h32.pow(2).mean([-1], keepdim: true);
        var normed = (h32 * (variance + eps).rsqrt()).to_type(h.dtype);
        return weight * normed;
    }

    /// <summary>One decoder layer: h [B, T, H] to [B, T, H].</summary>
    public static Tensor DecoderLayer(Tensor h, DecoderLayerWeights w, LlamaConfig c, RotaryEmbedding rope, ILinearObserver? observer = null)
    {
        using var scope = NewDisposeScope();
        var x = RmsNorm(h, w.InputNorm, c.RmsNormEps);
        var attention = Attention(x, w, c, rope, observer);
        var h2 = h + Linears([LlamaLinear.O], attention, w, observer)[0];
        var x2 = RmsNorm(h2, w.PostAttentionNorm, c.RmsNormEps);
        var gateUp = Linears([LlamaLinear.Gate, LlamaLinear.Up], x2, w, observer);
        var mlp = Linears([LlamaLinear.Down], nn.functional.silu(gateUp[0]).mul_(gateUp[1]), w, observer)[0];
        return h2.add_(mlp).MoveToOuterDisposeScope();
    }

    private static Tensor Attention(Tensor x, DecoderLayerWeights w, LlamaConfig c, RotaryEmbedding rope, ILinearObserver? observer)
    {
        long b = x.shape[0], t = x.shape[1];
        var qkv = Linears([LlamaLinear.Q, LlamaLinear.K, LlamaLinear.V], x, w, observer);
        var q = rope.Apply(Heads(qkv[0], c.NumAttentionHeads, c.HeadDim));
        var k = rope.Apply(Heads(qkv[1], c.NumKeyValueHeads, c.HeadDim));
        var v = Heads(qkv[2], c.NumKeyValueHeads, c.HeadDim);
        var groups = c.NumAttentionHeads / c.NumKeyValueHeads;
        if (groups > 1)
        {
            // Each key/value head serves `groups` consecutive query heads (HF repeat_kv).
            k = k.repeat_interleave(groups, 1);
            v = v.repeat_interleave(groups, 1);
        }

        var attended = nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true);
        return attended.transpose(1, 2).reshape(b, t, c.NumAttentionHeads * c.HeadDim);
    }

    private static Tensor Heads(Tensor projected, int heads, int headDim) =>
        projected.view(projected.shape[0], projected.shape[1], heads, headDim).transpose(1, 2);

    /// <summary>
    /// The linears that read one input; the observer sees them together, once all are computed,
    /// before their biases are added: the protocol's statistics take y = x W^T.
    /// </summary>
    private static Tensor[] Linears(LlamaLinear[] linears, Tensor input, DecoderLayerWeights w, ILinearObserver? observer)
    {
        var outputs = linears.Select(l => nn.functional.linear(input, w[l])).ToArray();
        observer?.Observe(linears, input, outputs);
        for (var j = 0; j < linears.Length; j++)
        {
            if (w.Biases[linears[j].Index] is { } bias)
            {
                outputs[j].add_(bias);
            }
        }

        return outputs;
    }

    /// <summary>Final norm and lm_head: h [B, T, H] to logits [B, T, V].</summary>
    public static Tensor Logits(Tensor h, ModelHead head, LlamaConfig c)
    {
        using var scope = NewDisposeScope();
        return nn.functional.linear(RmsNorm(h, head.FinalNorm, c.RmsNormEps), head.LmHead).MoveToOuterDisposeScope();
    }
}
