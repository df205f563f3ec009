using System.Text.Json;

namespace Copal.Model;

/// <summary>The LlamaConfig fields the forward pass needs, read from `config.json`.</summary>
public sealed record LlamaConfig
{
    public required int HiddenSize { get; init; }

    public required int IntermediateSize { get; init; }

    public required int NumHiddenLayers { get; init; }

    public required int NumAttentionHeads { get; init; }

    public required int NumKeyValueHeads { get; init; }

    public required int HeadDim { get; init; }

    public required double RmsNormEps { get; init; }

    public required double RopeTheta { get; init; }

    /// <summary>rope_scaling, or null when config.json gives none.</summary>
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>attention_bias: q/k/v/o_proj carry a bias.</summary>
    public bool AttentionBias { get; init; }

    /// <summary>mlp_bias: gate/up/down_proj carry a bias.</summary>
    public bool MlpBias { get; init; }

    public required int MaxPositionEmbeddings { get; init; }

    public required int VocabSize { get; init; }

    public required bool TieWordEmbeddings { get; init; }

    /// <summary>bos_token_id, or null when config.json does not give one.</summary>
    public int? BosTokenId { get; init; }

    public static LlamaConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new CopalInputException($"{path}: file not found");
        }

        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return FromJson(path, doc.RootElement);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // JsonDocument checks the structure, not the UTF-8 of strings: reading one that is not throws InvalidOperationException.
            throw new CopalInputException($"{path}: not valid JSON ({e.Message})");
        }
    }

    private static LlamaConfig FromJson(string path, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new CopalInputException($"{path}: expected a JSON object, got {root.ValueKind.ToString().ToLowerInvariant()}");
        }

        int Int(string name, int? fallback = null)
        {
            if (root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null)
            {
                return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) && i > 0 ? i : throw new CopalInputException($"{path}: {name} must be a positive integer, got {v.GetRawText()}");
            }

            return fallback ?? throw new CopalInputException($"{path}: missing required field {name}");
        }

        double Real(string name, double fallback)
        {
            if (root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null)
            {
                return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d > 0 ? d : throw new CopalInputException($"{path}: {name} must be a positive number, got {v.GetRawText()}");
            }

            return fallback;
        }

        bool Flag(string name) => root.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw new CopalInputException($"{path}: {name} must be true or false, got {v.GetRawText()}"),
        } : false;

        var hidden = Int("hidden_size");
        var heads = Int("num_attention_heads");
        var config = new LlamaConfig
        {
            HiddenSize = hidden,
            IntermediateSize = Int("intermediate_size"),
            NumHiddenLayers = Int("num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = Int("num_key_value_heads", heads),
            HeadDim = Int("head_dim", hidden / heads),
            RmsNormEps = Real("rms_norm_eps", 1e-6),
            RopeTheta = Real("rope_theta", 10000.0),
            RopeScaling = root.TryGetProperty("rope_scaling", out var scaling) && scaling.ValueKind != JsonValueKind.Null ? RopeScaling.Parse(path, scaling) : null,
            AttentionBias = Flag("attention_bias"),
            MlpBias = Flag("mlp_bias"),
            MaxPositionEmbeddings = Int("max_position_embeddings", 2048),
            VocabSize = Int("vocab_size"),
            TieWordEmbeddings = Flag("tie_word_embeddings"),
            BosTokenId = root.TryGetProperty("bos_token_id", out var bos) && bos.ValueKind == JsonValueKind.Number && bos.TryGetInt32(out var bosId) && bosId >= 0 ? bosId : null,
        };
        config.Validate(path);
        return config;
    }

    private void Validate(string path)
    {
        if (NumAttentionHeads % NumKeyValueHeads != 0)
        {
            throw new CopalInputException($"{path}: num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {NumKeyValueHeads}");
        }

        if (HeadDim % 2 != 0)
        {
            throw new CopalInputException($"{path}: head dimension {HeadDim} must be even for rotary embeddings");
        }
    }

    /// <summary>Whether the checkpoint holds a bias [out] for this linear (attention_bias, mlp_bias).</summary>
    public bool HasBias(LlamaLinear linear) => linear.InAttention ? AttentionBias : MlpBias;

    /// <summary>The stored shape every tensor of the checkpoint must have.</summary>
    public IEnumerable<(string Name, long[] Shape)> ExpectedTensors()
    {
        yield return (TensorNames.Embedding, [VocabSize, HiddenSize]);
        for (var layer = 0; layer < NumHiddenLayers; layer++)
        {
            foreach (var linear in LlamaLinear.All)
            {
                yield return (TensorNames.Linear(layer, linear), linear.Shape(this));
                if (HasBias(linear))
                {
                    yield return (TensorNames.Bias(layer, linear), [linear.Shape(this)[0]]);
                }
            }

            yield return (TensorNames.InputNorm(layer), [HiddenSize]);
            yield return (TensorNames.PostAttentionNorm(layer), [HiddenSize]);
        }

        yield return (TensorNames.FinalNorm, [HiddenSize]);
        if (!TieWordEmbeddings)
        {
            yield return (TensorNames.LmHead, [VocabSize, HiddenSize]);
        }
    }
}
