namespace Copal.Model;

/// <summary>Hugging Face LlamaForCausalLM tensor names.</summary>
public static class TensorNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string LayerPrefix(int layer) => $"model.layers.{layer}.";

    public static string Linear(int layer, LlamaLinear linear) => $"model.layers.{layer}.{linear.Module}.weight";

    public static string InputNorm(int layer) => $"model.layers.{layer}.input_layernorm.weight";

    public static string PostAttentionNorm(int layer) => $"model.layers.{layer}.post_attention_layernorm.weight";

    /// <summary>The decoder layer a tensor belongs to, or null for embedding, norm and head.</summary>
    public static int? LayerOf(string name)
    {
        const string prefix = "model.layers.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var end = name.IndexOf('.', prefix.Length);
        return end > 0 && int.TryParse(name.AsSpan(prefix.Length, end - prefix.Length), out var layer) ? layer : null;
    }
}
