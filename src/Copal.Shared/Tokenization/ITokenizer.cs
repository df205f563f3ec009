namespace Copal.Tokenization;

/// <summary>A model's tokenizer as a run uses it: text to ids, and the id a split starts with.</summary>
public interface ITokenizer
{
    /// <summary>The id that starts every tokenized split (the model's beginning of sequence).</summary>
    int BosId { get; }

    /// <summary>Encodes <paramref name="text"/> as one sequence without a leading BOS; special tokens the text spells are encoded as the library does.</summary>
    int[] Encode(string text);
}
