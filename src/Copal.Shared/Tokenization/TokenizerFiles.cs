using Copal.Model;

namespace Copal.Tokenization;

/// <summary>
/// Which tokenizer a model uses, by Hugging Face's rule: `tokenizer.json` when the checkpoint has
/// one, else the sentencepiece `tokenizer.model`; a path given on the command line overrides both.
/// </summary>
public static class TokenizerFiles
{
    public const string Json = "tokenizer.json";
    public const string SentencePiece = "tokenizer.model";

    /// <summary>The tokenizer file of a checkpoint directory, or <paramref name="requested"/> when given.</summary>
    public static string PathFor(string modelDirectory, string? requested)
    {
        if (requested is not null)
        {
            return File.Exists(requested) ? requested : throw new CopalInputException($"{requested}: tokenizer not found");
        }

        var json = Path.Combine(modelDirectory, Json);
        var sentencePiece = Path.Combine(modelDirectory, SentencePiece);
        return File.Exists(json) ? json
            : File.Exists(sentencePiece) ? sentencePiece
            : throw new CopalInputException($"{modelDirectory}: no {Json} or {SentencePiece} (give one with --tokenizer)");
    }

    /// <summary>Loads the tokenizer of <paramref name="model"/>; a bad file is an input error naming it.</summary>
    public static ITokenizer Load(LlamaModel model, string? requested = null)
    {
        var path = PathFor(model.Directory, requested);
        if (!path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            return SentencePieceTokenizer.LoadInput(path);
        }

        var bos = model.Config.BosTokenId ?? throw new CopalInputException($"{Path.Combine(model.Directory, LlamaModel.ConfigFile)}: bos_token_id is missing, and {path} needs it");
        return HuggingFaceTokenizer.Load(path, bos);
    }
}
