using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Coordinator.Cli.Hosting;
using Copal.Data;
using Copal.Tokenization;
using Serilog;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// The tokenization part of `copal bench perf`: megabytes of text per second through each kind of
/// tokenizer (the own SentencePiece for tokenizer.model, Hugging Face's library for
/// tokenizer.json), on a JSON-lines split it writes from the bundled corpora's documents.
/// </summary>
public sealed class TokenizerPerf(int megabytes)
{
    public JsonObject Measure(string root)
    {
        var file = Path.Combine(root, "tokenize.calib.jsonl");
        var written = WriteSplit(file, (long)megabytes << 20);
        var clock = Stopwatch.StartNew();
        var text = SplitText.Read(file);
        var readSeconds = clock.Elapsed.TotalSeconds;
        var bytes = Encoding.UTF8.GetByteCount(text);
        Log.Information("Tokenizing a {Megabytes:F0} MB JSON-lines split with each tokenizer", bytes / 1e6);
        var json = new JsonObject
        {
            ["file_bytes"] = written,
            ["text_bytes"] = bytes,
            ["read_seconds"] = readSeconds,
        };
        var tokenizers = new (string Name, ITokenizer Tokenizer)[]
        {
            ("sentencepiece", SentencePieceTokenizer.Load(Path.Combine(Bundled.Model, TokenizerFiles.SentencePiece))),
            ("tokenizer_json", HuggingFaceTokenizer.Load(Path.Combine(Bundled.Llama3Model, TokenizerFiles.Json), bosId: 128000)),
        };
        foreach (var (name, tokenizer) in tokenizers)
        {
            clock.Restart();
            var ids = tokenizer.Encode(text);
            var seconds = clock.Elapsed.TotalSeconds;
            json[$"{name}_seconds"] = seconds;
            json[$"{name}_tokens"] = ids.Length;
            json[$"{name}_mb_per_s"] = bytes / 1e6 / seconds;
        }

        return json;
    }

    /// <summary>Repeats the bundled documents (blank-line separated) as JSON lines until the file holds at least <paramref name="bytes"/>.</summary>
    private static long WriteSplit(string path, long bytes)
    {
        var documents = Directory.GetFiles(Bundled.Data, "*.txt")
            .Order(StringComparer.Ordinal)
            .SelectMany(f => File.ReadAllText(f).Split(SplitText.RecordSeparator, StringSplitOptions.RemoveEmptyEntries))
            .Select(d => JsonSerializer.Serialize(new { text = d }))
            .ToList();
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        long size = 0;
        for (var i = 0; size < bytes; i++)
        {
            var line = documents[i % documents.Count];
            writer.Write(line);
            writer.Write('\n');
            size += Encoding.UTF8.GetByteCount(line) + 1;
        }

        return size;
    }
}
