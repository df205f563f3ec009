using Copal.Tokenization;

namespace Copal.Data;

/// <summary>A split tokenized as one sequence: BOS followed by the encoding of the split's text.</summary>
public static class TokenStream
{
    /// <summary><paramref name="progress"/> is told how much of the split file has been read.</summary>
    public static int[] Load(DataDirectory data, string dataset, Split split, ITokenizer tokenizer, IProgress<WorkProgress>? progress = null)
    {
        var ids = tokenizer.Encode(data.Text(dataset, split, progress));
        var stream = new int[ids.Length + 1];
        stream[0] = tokenizer.BosId;
        ids.CopyTo(stream, 1);
        return stream;
    }
}
