using Copal.Model;

namespace Copal.Planning;

/// <summary>The configs of the published LLaMA models, for planning without a checkpoint at hand.</summary>
public static class ModelPresets
{
    /// <summary>The weight dtype assumed for presets (LLaMA-1 ships F16, also 2 bytes).</summary>
    public const StorageType WeightDType = StorageType.BF16;

    /// <summary>The rope_scaling every Llama 3.1 config.json gives (declared first: the table below uses it).</summary>
    private static readonly RopeScaling Llama31Rope = new Llama3RopeScaling(Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192);

    private static readonly (string Name, LlamaConfig Config)[] Presets =
    [
        ("llama-7b", Llama(layers: 32, hidden: 4096, inter: 11008, heads: 32, kvHeads: 32, vocab: 32000, maxPos: 2048, ropeTheta: 10000, eps: 1e-6)),
        ("llama-13b", Llama(layers: 40, hidden: 5120, inter: 13824, heads: 40, kvHeads: 40, vocab: 32000, maxPos: 2048, ropeTheta: 10000, eps: 1e-6)),
        ("llama-30b", Llama(layers: 60, hidden: 6656, inter: 17920, heads: 52, kvHeads: 52, vocab: 32000, maxPos: 2048, ropeTheta: 10000, eps: 1e-6)),
        ("llama-65b", Llama(layers: 80, hidden: 8192, inter: 22016, heads: 64, kvHeads: 64, vocab: 32000, maxPos: 2048, ropeTheta: 10000, eps: 1e-5)),
        ("llama-2-70b", Llama(layers: 80, hidden: 8192, inter: 28672, heads: 64, kvHeads: 8, vocab: 32000, maxPos: 4096, ropeTheta: 10000, eps: 1e-5)),
        ("llama-3-8b", Llama(layers: 32, hidden: 4096, inter: 14336, heads: 32, kvHeads: 8, vocab: 128256, maxPos: 8192, ropeTheta: 500000, eps: 1e-5)),
        ("llama-3-70b", Llama(layers: 80, hidden: 8192, inter: 28672, heads: 64, kvHeads: 8, vocab: 128256, maxPos: 8192, ropeTheta: 500000, eps: 1e-5)),
        ("llama-3.1-8b", Llama(layers: 32, hidden: 4096, inter: 14336, heads: 32, kvHeads: 8, vocab: 128256, maxPos: 131072, ropeTheta: 500000, eps: 1e-5, rope: Llama31Rope)),
        ("llama-3.1-70b", Llama(layers: 80, hidden: 8192, inter: 28672, heads: 64, kvHeads: 8, vocab: 128256, maxPos: 131072, ropeTheta: 500000, eps: 1e-5, rope: Llama31Rope)),
        ("llama-3.1-405b", Llama(layers: 126, hidden: 16384, inter: 53248, heads: 128, kvHeads: 8, vocab: 128256, maxPos: 131072, ropeTheta: 500000, eps: 1e-5, rope: Llama31Rope)),
    ];

    /// <summary>The preset names, smallest LLaMA-1 first.</summary>
    public static IReadOnlyList<string> Names { get; } = Presets.Select(p => p.Name).ToArray();

    public static bool TryGet(string name, out LlamaConfig config)
    {
        foreach (var p in Presets)
        {
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                config = p.Config;
                return true;
            }
        }

        config = null!;
        return false;
    }

    /// <summary>The preset's config; an unknown name is refused with the list of presets.</summary>
    public static LlamaConfig Get(string name) =>
        TryGet(name, out var config) ? config : throw new CopalInputException($"unknown preset '{name}' ({string.Join(", ", Names)})");

    private static LlamaConfig Llama(int layers, int hidden, int inter, int heads, int kvHeads, int vocab, int maxPos, double ropeTheta, double eps, RopeScaling? rope = null) => new()
    {
        HiddenSize = hidden,
        IntermediateSize = inter,
        NumHiddenLayers = layers,
        NumAttentionHeads = heads,
        NumKeyValueHeads = kvHeads,
        HeadDim = hidden / heads,
        RmsNormEps = eps,
        RopeTheta = ropeTheta,
        RopeScaling = rope,
        MaxPositionEmbeddings = maxPos,
        VocabSize = vocab,
        TieWordEmbeddings = false,
    };
}
