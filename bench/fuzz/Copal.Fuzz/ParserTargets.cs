using Copal.Data;
using Copal.Model;
using Copal.Runs;
using Copal.Stages;
using Copal.Tokenization;
using Copal.Transport;

namespace Copal.Fuzz;

/// <summary>Every parser of bytes from outside: files a user gives, files a run left, and frames from the network.</summary>
public static class ParserTargets
{
    private static readonly Type[] InputError = [typeof(CopalInputException)];

    public static IReadOnlyList<ParserTarget> All { get; } =
    [
        new("safetensors", CheckpointReader.SingleFile, (_, path) => SafetensorsFile.Open(path).Dispose(), Seeds.Safetensors, InputError),
        new("shard-index", CheckpointReader.IndexFile, (_, path) => OpenShards(path), Seeds.ShardIndex, InputError),
        new("config", LlamaModel.ConfigFile, (_, path) => LlamaConfig.Load(path), Seeds.Config, InputError),
        new("sentencepiece", TokenizerFiles.SentencePiece, (_, path) => Tokenize(path), Seeds.SentencePiece, InputError),
        new("activation-frame", "frames.bin", (bytes, _) => ReadFrames(bytes), Seeds.Frames, [typeof(InvalidDataException), typeof(EndOfStreamException), typeof(FrameChecksumException)]),
        new("jsonl", "split.jsonl", (_, path) => SplitText.Read(path), Seeds.JsonLines, InputError),
        // Deflate expands up to 1032 times: a small file may rightly decompress to a large text (Parquet's pages too).
        new("jsonl-gz", "split.jsonl.gz", (_, path) => SplitText.Read(path), Seeds.GzipJsonLines, InputError, BytesPerInputByte: 8 * 1032),
        new("parquet", "split.parquet", (_, path) => SplitText.Read(path), Seeds.Parquet, InputError, BytesPerInputByte: 8 * 1032),
        new("run-spec", RunSpec.FileName, (_, path) => RunSpec.Load(DirectoryOf(path)), Seeds.RunSpecs, InputError),
        new("journal", RunJournal.FileName, (_, path) => RunJournal.Read(DirectoryOf(path)), Seeds.Journal, InputError),

        // A damaged manifest is reported as the stage's problem, never thrown.
        new("stage-manifest", StageCheckpoint.ManifestFile, (_, path) => StageCheckpoint.TryReadManifest(DirectoryOf(path), out string? _), Seeds.StageManifests, []),
    ];

    public static ParserTarget Named(string name) =>
        All.FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException($"no parser target '{name}' (targets: {string.Join(", ", All.Select(t => t.Name))})", nameof(name));

    private static string DirectoryOf(string path) => Path.GetDirectoryName(path)!;

    private static void OpenShards(string indexPath)
    {
        var shard = Path.Combine(DirectoryOf(indexPath), Seeds.ShardName);
        if (!File.Exists(shard))
        {
            File.WriteAllBytes(shard, Seeds.Safetensors().First());
        }

        CheckpointReader.Open(DirectoryOf(indexPath)).Dispose();
    }

    // A model is only accepted if it can tokenize: encode text with pieces it lacks, and decode back.
    private static void Tokenize(string path)
    {
        var tokenizer = SentencePieceTokenizer.LoadInput(path);
        tokenizer.Decode(tokenizer.Encode("  a ab  b\u00e9\u2581c\t\U0001F642 "));
    }

    private static void ReadFrames(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        while (ActivationWire.ReadAsync(stream).GetAwaiter().GetResult() is { } frame)
        {
            frame.Dispose();
        }
    }
}
