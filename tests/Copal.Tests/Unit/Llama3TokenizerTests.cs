using System.Text.Json;
using Copal.Data;
using Copal.Model;
using Copal.Tokenization;
using Xunit;

namespace Copal.Tests;

/// <summary>The tokenizer.json of Llama 3.1, through Hugging Face's library, against golden cases of the reference.</summary>
public class Llama3TokenizerTests
{
    private static readonly Lazy<ITokenizer> TinyL3 = new(() => HuggingFaceTokenizer.Load(Path.Combine(RepoPaths.TinyL3Model, TokenizerFiles.Json), bosId: 128000));

    [Fact]
    public void ATokenizerJsonIsPreferredToATokenizerModelAndAGivenPathToBoth()
    {
        using var dir = new TempDir();
        File.Copy(Path.Combine(RepoPaths.TinyModel, TokenizerFiles.SentencePiece), dir.File(TokenizerFiles.SentencePiece));
        Assert.Equal(dir.File(TokenizerFiles.SentencePiece), TokenizerFiles.PathFor(dir.Path, null));
        File.Copy(Path.Combine(RepoPaths.TinyL3Model, TokenizerFiles.Json), dir.File(TokenizerFiles.Json));
        Assert.Equal(dir.File(TokenizerFiles.Json), TokenizerFiles.PathFor(dir.Path, null));
        Assert.Equal(dir.File(TokenizerFiles.SentencePiece), TokenizerFiles.PathFor(dir.Path, dir.File(TokenizerFiles.SentencePiece)));
        var missing = Assert.Throws<CopalInputException>(() => TokenizerFiles.PathFor(dir.Path, dir.File("nothing.json")));
        Assert.Contains("nothing.json", missing.Message, StringComparison.Ordinal);
        using var tinyMix = LlamaModel.Open(RepoPaths.TinyModel);
        Assert.IsType<SentencePieceTokenizer>(TokenizerFiles.Load(tinyMix));
    }

    [Fact]
    public void MatchesEveryGoldenCaseWithItsBos()
    {
        using var golden = JsonDocument.Parse(File.ReadAllBytes(RepoPaths.Golden("llama3-tokenizer.json")));
        var bos = golden.RootElement.GetProperty("bos").GetInt32();
        var cases = golden.RootElement.GetProperty("cases");
        var failures = new List<string>();
        foreach (var entry in cases.EnumerateArray())
        {
            var text = entry.GetProperty("text").GetString()!;
            int[] expected = [.. entry.GetProperty("ids").EnumerateArray().Select(id => id.GetInt32())];
            int[] actual = [bos, .. TinyL3.Value.Encode(text)];
            if (!expected.SequenceEqual(actual))
            {
                failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
            }
        }

        Assert.Equal(20, cases.GetArrayLength());
        Assert.Empty(failures);
    }

    [Fact]
    public void MatchesTheTinyL3Tokenization()
    {
        using var golden = JsonDocument.Parse(File.ReadAllBytes(RepoPaths.Golden("tiny-l3.json")));
        foreach (var entry in golden.RootElement.GetProperty("tokenization").EnumerateArray())
        {
            int[] expected = [.. entry.GetProperty("ids").EnumerateArray().Select(id => id.GetInt32())];
            Assert.Equal(expected, TinyL3.Value.Encode(entry.GetProperty("text").GetString()!));
        }
    }

    [Fact]
    public void ASplitIsOneBosAndItsText()
    {
        using var golden = JsonDocument.Parse(File.ReadAllBytes(RepoPaths.Golden("tiny-l3.json")));
        var data = new DataDirectory(RepoPaths.Corpora);
        foreach (var split in golden.RootElement.GetProperty("test_tokens").EnumerateObject())
        {
            var tokens = TokenStream.Load(data, split.Name, Split.Test, TinyL3.Value);
            Assert.Equal(split.Value.GetInt32(), tokens.Length);
            Assert.Equal(128000, tokens[0]);
            Assert.DoesNotContain(128000, tokens[1..]);
        }

        // The first tokens of the first calibration samples (even sampling) follow from the stream.
        var (samples, seqLen) = (golden.RootElement.GetProperty("nsamples").GetInt32(), golden.RootElement.GetProperty("seqlen").GetInt32());
        foreach (var split in golden.RootElement.GetProperty("calib_first_tokens").EnumerateObject())
        {
            using var drawn = CalibrationSampler.Sample(TokenStream.Load(data, split.Name, Split.Calib, TinyL3.Value), samples, seqLen, SamplingMode.Even, 0);
            foreach (var (sample, index) in split.Value.EnumerateArray().Select((s, i) => (s, i)))
            {
                long[] expected = [.. sample.EnumerateArray().Select(id => id.GetInt64())];
                Assert.Equal(expected, drawn[index].narrow(0, 0, expected.Length).data<long>().ToArray());
            }
        }
    }

    [Fact]
    public void ASpelledSpecialTokenIsEncodedAsTheLibraryDoes()
    {
        Assert.Equal([128000, 15495, 304, 1495], TinyL3.Value.Encode("<|begin_of_text|>special in text"));
    }

    [Fact]
    public void ACorruptTokenizerJsonIsAnInputErrorNamingIt()
    {
        using var dir = new TempDir();
        var path = dir.File("tokenizer.json");
        File.WriteAllText(path, "{ \"model\": ");
        var error = Assert.Throws<CopalInputException>(() => HuggingFaceTokenizer.Load(path, 128000));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
