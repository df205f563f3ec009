namespace Copal.Tokenization;

/// <summary>
/// A `tokenizer.json` (Llama 3 and most current checkpoints), run by Hugging Face's own tokenizers
/// library. Whether the library's post-processor adds a BOS is learned from the empty text, so
/// <see cref="Encode"/> returns the text alone either way.
/// </summary>
public sealed class HuggingFaceTokenizer : ITokenizer
{
    private readonly Tokenizers.DotNet.Tokenizer tokenizer;
    private readonly bool addsBos;

    private HuggingFaceTokenizer(Tokenizers.DotNet.Tokenizer tokenizer, int bosId)
    {
        this.tokenizer = tokenizer;
        BosId = bosId;
        addsBos = tokenizer.Encode(string.Empty) is [var only] && only == bosId;
    }

    public int BosId { get; }

    /// <param name="path">The tokenizer.json file.</param>
    /// <param name="bosId">The model's bos_token_id.</param>
    public static HuggingFaceTokenizer Load(string path, int bosId)
    {
        try
        {
            return new HuggingFaceTokenizer(new Tokenizers.DotNet.Tokenizer(vocabPath: path), bosId);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new CopalInputException($"{path}: not a tokenizer.json the tokenizers library can load ({e.Message.Split('\n')[0]})", e);
        }
    }

    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = tokenizer.Encode(text);
        var skip = addsBos && ids.Length > 0 && ids[0] == BosId ? 1 : 0;
        var result = new int[ids.Length - skip];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = checked((int)ids[i + skip]);
        }

        return result;
    }
}
