using Copal.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Copal.Nn;

/// <summary>
/// The LLaMA forward as plain functions over tensors, with LlamaForCausalLM semantics:
/// RMSNorm, rotary attention with grouped-query heads, SwiGLU MLP.
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
        var h2 = h + Linear(LlamaLinear.O, attention, w, observer);
        var x2 = RmsNorm(h2, w.PostAttentionNorm, c.RmsNormEps);
        var gate = Linear(LlamaLinear.Gate, x2, w, observer);
        var up = Linear(LlamaLinear.Up, x2, w, observer);
        var mlp = Linear(LlamaLinear.Down, nn.functional.silu(gate) * up, w, observer);
        return (h2 + mlp).MoveToOuterDisposeScope();
    }

    private static Tensor Attention(Tensor x, DecoderLayerWeights w, LlamaConfig c, RotaryEmbedding rope, ILinearObserver? observer)
    {
        long b = x.shape[0], t = x.shape[1];
        var q = Heads(Linear(LlamaLinear.Q, x, w, observer), c.NumAttentionHeads, c.HeadDim);
        var k = Heads(Linear(LlamaLinear.K, x, w, observer), c.NumKeyValueHeads, c.HeadDim);
        var v = Heads(Linear(LlamaLinear.V, x, w, observer), c.NumKeyValueHeads, c.HeadDim);
        q = rope.Apply(q);
        k = rope.Apply(k);
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

    private static Tensor Linear(LlamaLinear linear, Tensor input, DecoderLayerWeights w, ILinearObserver? observer)
    {
        var output = nn.functional.linear(input, w[linear]);
        observer?.Observe(linear, input, output);
        return output;
    }

    /// <summary>Final norm and lm_head: h [B, T, H] to logits [B, T, V].</summary>
    public static Tensor Logits(Tensor h, ModelHead head, LlamaConfig c)
    {
        using var scope = NewDisposeScope();
        return nn.functional.linear(RmsNorm(h, head.FinalNorm, c.RmsNormEps), head.LmHead).MoveToOuterDisposeScope();
    }
}
