using Copal.Nn;
using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>
/// A Hugging Face LLaMA checkpoint directory, opened and checked: config, memory-mapped
/// weights and tokenizer. Weights are read on request, one layer at a time.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    public const string ConfigFile = "config.json";
    public const string TokenizerFile = "tokenizer.model";

    private LlamaModel(string directory, LlamaConfig config, CheckpointReader weights)
    {
        Directory = directory;
        Config = config;
        Weights = weights;
    }

    public string Directory { get; }

    public LlamaConfig Config { get; }

    public CheckpointReader Weights { get; }

    public string TokenizerPath => Path.Combine(Directory, TokenizerFile);

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
            if (!entry.Shape.SequenceEqual(shape))
            {
                throw new CopalInputException($"{weights.Directory}: tensor '{name}' has shape {entry.ShapeText} but config.json implies [{string.Join(", ", shape)}]");
            }
        }
    }

    public string LmHeadName => Config.TieWordEmbeddings ? TensorNames.Embedding : TensorNames.LmHead;

    public DecoderLayerWeights LoadLayer(int layer, ScalarType dtype) =>
        DecoderLayerWeights.Load(Weights, layer, dtype);

    public ModelHead LoadHead(ScalarType dtype, bool withEmbedding = true) => new(
        withEmbedding ? Weights.Read(TensorNames.Embedding, dtype) : null,
        Weights.Read(TensorNames.FinalNorm, dtype),
        Weights.Read(LmHeadName, dtype));

    public void Dispose() => Weights.Dispose();
}
