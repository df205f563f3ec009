using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>
/// A Hugging Face LLaMA checkpoint directory, opened and checked: config and weights (read with
/// positioned reads, on request, one layer at a time). Its tokenizer is found by <see cref="Tokenization.TokenizerFiles"/>.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    public const string ConfigFile = "config.json";
    private LlamaModel(string directory, LlamaConfig config, CheckpointReader weights)
    {
        Directory = directory;
        Config = config;
        Weights = weights;
    }

    public string Directory { get; }

    public LlamaConfig Config { get; }

    public CheckpointReader Weights { get; }

    public static LlamaModel Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            throw new CopalInputException($"{directory}: model directory not found");
        }

        var config = LlamaConfig.Load(Path.Combine(directory, ConfigFile));
        var weights = CheckpointReader.Open(directory);
        try
        {
            Validate(config, weights);
            return new LlamaModel(directory, config, weights);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    private static void Validate(LlamaConfig config, CheckpointReader weights)
    {
        foreach (var (name, shape) in config.ExpectedTensors())
        {
            if (!weights.Contains(name))
            {
                throw new CopalInputException($"{weights.Directory}: config.json describes tensor '{name}' but the checkpoint lacks it");
            }

            var entry = weights.Entry(name);
            if (entry.DType == StorageType.U8)
            {
                throw new CopalInputException($"{weights.Directory}: tensor '{name}' is U8, a keep-mask, not weights");
            }

            if (!entry.Shape.SequenceEqual(shape))
            {
                throw new CopalInputException($"{weights.Directory}: tensor '{name}' has shape {entry.ShapeText} but config.json implies [{string.Join(", ", shape)}]");
            }
        }
    }

    public string LmHeadName => Config.TieWordEmbeddings ? TensorNames.Embedding : TensorNames.LmHead;

    public DecoderLayerWeights LoadLayer(int layer, ScalarType dtype) =>
        DecoderLayerWeights.Load(Weights, Config, layer, dtype);

    public ModelHead LoadHead(ScalarType dtype, bool withEmbedding = true) => new(
        withEmbedding ? Weights.Read(TensorNames.Embedding, dtype) : null,
        Weights.Read(TensorNames.FinalNorm, dtype),
        Weights.Read(LmHeadName, dtype));

    /// <summary>
    /// [B, T] token ids to [B, T, H] hidden states, reading only the embedding rows it needs (the
    /// same values as <see cref="ModelHead.Embed"/> without holding the whole table).
    /// </summary>
    public Tensor Embed(Tensor tokens, ScalarType dtype)
    {
        using var flat = tokens.flatten().to_type(ScalarType.Int64);
        var ids = flat.data<long>().ToArray();
        using var rows = Weights.ReadRows(TensorNames.Embedding, ids, dtype);
        return rows.reshape(tokens.shape[0], tokens.shape[1], Config.HiddenSize);
    }

    public void Dispose() => Weights.Dispose();
}
