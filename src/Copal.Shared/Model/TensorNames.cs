namespace Copal.Model;

/// <summary>Hugging Face LlamaForCausalLM tensor names.</summary>
public static class TensorNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string Linear(int layer, LlamaLinear linear) => $"model.layers.{layer}.{linear.Module}.weight";

    public static string Bias(int layer, LlamaLinear linear) => $"model.layers.{layer}.{linear.Module}.bias";

    public static string InputNorm(int layer) => $"model.layers.{layer}.input_layernorm.weight";

    public static string PostAttentionNorm(int layer) => $"model.layers.{layer}.post_attention_layernorm.weight";
}
