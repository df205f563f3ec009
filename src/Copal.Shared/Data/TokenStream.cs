using Copal.Tokenization;

namespace Copal.Data;

/// <summary>A split tokenized as one sequence: BOS followed by the encoding of the whole file.</summary>
public static class TokenStream
{
    public static int[] Load(DataDirectory data, string dataset, Split split, ITokenizer tokenizer)
    {
        var text = File.ReadAllText(data.FileOf(dataset, split));
        var ids = tokenizer.Encode(text);
        var stream = new int[ids.Length + 1];
        stream[0] = tokenizer.BosId;
        ids.CopyTo(stream, 1);
        return stream;
    }
}
