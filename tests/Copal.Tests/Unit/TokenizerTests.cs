using System.Text.Json;
using Copal.Tokenization;
using Xunit;

namespace Copal.Tests;

public sealed class TokenizerTests
{
    private static readonly Lazy<SentencePieceTokenizer> TinyMix =
        new(() => SentencePieceTokenizer.Load(Path.Combine(RepoPaths.TinyModel, "tokenizer.model")));

    private static readonly Lazy<SentencePieceTokenizer> Llama2 =
        new(() => SentencePieceTokenizer.Load(RepoPaths.Llama2Tokenizer));

    public static TheoryData<string> TestSplits => ["fiction", "science", "speech", "news"];

    [Fact]
    public void TinyMixMatchesGoldenTokenization()
    {
        using var golden = ReadGolden("tiny-mix.json");
        AssertEncodesExactly(TinyMix.Value, golden.RootElement.GetProperty("tokenization"));
    }

    [Fact]
    public void Llama2MatchesGoldenTokenization()
    {
        using var golden = ReadGolden("llama2-tokenizer.json");
        AssertEncodesExactly(Llama2.Value, golden.RootElement.GetProperty("cases"));
    }

    [Fact]
    public void Llama2SpecialIdsAndVocabMatchGolden()
    {
        using var golden = ReadGolden("llama2-tokenizer.json");
        var root = golden.RootElement;
        var tokenizer = Llama2.Value;
        Assert.Equal(root.GetProperty("bos").GetInt32(), tokenizer.BosId);
        Assert.Equal(root.GetProperty("eos").GetInt32(), tokenizer.EosId);
        Assert.Equal(root.GetProperty("unk").GetInt32(), tokenizer.UnkId);
        Assert.Equal(root.GetProperty("vocab").GetInt32(), tokenizer.VocabSize);
    }

    [Fact]
    public void TinyMixSpecialIdsMatchConfig()
    {
        // tokenizer_config.json names <s>, </s> and <unk>, which the trainer places at 1, 2 and 0.
        var tokenizer = TinyMix.Value;
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        Assert.Equal(0, tokenizer.UnkId);
        Assert.Equal(4096, tokenizer.VocabSize);
    }

    [Theory]
    [MemberData(nameof(TestSplits))]
    public void TestSplitTokenCountMatchesGolden(string split)
    {
        using var golden = ReadGolden("tiny-mix.json");
        var expected = golden.RootElement.GetProperty("test_tokens").GetProperty(split).GetInt32();
        var tokenizer = TinyMix.Value;

        // The protocol tokenizes each split as one BOS-prefixed sequence.
        var text = File.ReadAllText(Path.Combine(RepoPaths.Corpora, split + ".test.txt"));
        var ids = tokenizer.Encode(text);

        Assert.Equal(expected, ids.Length + 1);
        Assert.Equal(text, tokenizer.Decode([tokenizer.BosId, .. ids]));
    }

    [Fact]
    public void GoldenTextsRoundTrip()
    {
        // Neither model removes extra whitespace and the decoder drops exactly the one dummy-prefix
        // space the encoder adds, so every text (leading and repeated spaces included) round-trips.
        using var tinyMix = ReadGolden("tiny-mix.json");
        using var llama2 = ReadGolden("llama2-tokenizer.json");
        var cases = new[]
        {
            (TinyMix.Value, tinyMix.RootElement.GetProperty("tokenization")),
            (Llama2.Value, llama2.RootElement.GetProperty("cases")),
        };
        foreach (var (tokenizer, entries) in cases)
        {
            foreach (var entry in entries.EnumerateArray())
            {
                var text = entry.GetProperty("text").GetString()!;
                Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
                Assert.Equal(text, tokenizer.Decode([tokenizer.BosId, .. ReadIds(entry), tokenizer.EosId]));
            }
        }
    }

    [Fact]
    public void EmptyTextEncodesToNothing()
    {
        Assert.Empty(TinyMix.Value.Encode(""));
        Assert.Equal("", TinyMix.Value.Decode([]));
    }

    [Fact]
    public void UnknownIdDecodesToUnknownSurface()
    {
        var tokenizer = Llama2.Value;
        Assert.Equal(" \u2047 ", tokenizer.Decode([tokenizer.UnkId]));
    }

    [Fact]
    public void InvalidByteSequenceDecodesToReplacementCharacters()
    {
        // <0xE2> <0x96> is a truncated three-byte sequence: sentencepiece replaces each byte separately.
        var tokenizer = Llama2.Value;
        Assert.Equal("\uFFFD\uFFFD", tokenizer.Decode([3 + 0xE2, 3 + 0x96]));
    }

    [Fact]
    public void OutOfRangeIdIsRejected()
    {
        var tokenizer = TinyMix.Value;
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([tokenizer.VocabSize]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([-1]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(31_000)]
    [InlineData(-1)]
    public void TruncatedModelIsRejected(int length)
    {
        var original = File.ReadAllBytes(Path.Combine(RepoPaths.TinyModel, "tokenizer.model"));
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, original[..(length > 0 ? length : original.Length + length)]);
            var error = Assert.Throws<InvalidDataException>(() => SentencePieceTokenizer.Load(path));
            Assert.Contains(path, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void AssertEncodesExactly(SentencePieceTokenizer tokenizer, JsonElement entries)
    {
        var failures = new List<string>();
        foreach (var entry in entries.EnumerateArray())
        {
            var text = entry.GetProperty("text").GetString()!;
            var expected = ReadIds(entry);
            var actual = tokenizer.Encode(text);
            if (!expected.SequenceEqual(actual))
            {
                failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
            }
        }

        Assert.True(entries.GetArrayLength() > 0);
        Assert.Empty(failures);
    }

    private static int[] ReadIds(JsonElement entry) =>
        [.. entry.GetProperty("ids").EnumerateArray().Select(id => id.GetInt32())];

    private static JsonDocument ReadGolden(string name) => JsonDocument.Parse(File.ReadAllBytes(RepoPaths.Golden(name)));
}
