using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Tokenization;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>
/// Builds checkpoint files and model directories for tests: from tensors (through the real
/// <see cref="SafetensorsWriter"/>) or byte by byte (to craft broken files).
/// </summary>
public static class TestCheckpoints
{
    private static readonly Lazy<long[]> FictionPrefix = new(() =>
    {
        var tokenizer = SentencePieceTokenizer.Load(Path.Combine(RepoPaths.TinyModel, TokenizerFiles.SentencePiece));
        var tokens = TokenStream.Load(new DataDirectory(RepoPaths.Corpora), "fiction", Split.Test, tokenizer);
        return tokens.Take(96).Select(t => (long)t).ToArray();
    });

    /// <summary>The first tokens (BOS included) of the fiction test split, as tiny-mix tokenizes them.</summary>
    public static long[] FictionTokens => FictionPrefix.Value;

    /// <summary>tiny-mix's config.json, as an editable object.</summary>
    public static JsonObject TinyMixConfig() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.TinyModel, LlamaModel.ConfigFile)))!.AsObject();

    /// <summary>Every tensor of a checkpoint directory, in stored order, converted to float32.</summary>
    public static List<(string Name, Tensor Value)> ReadAll(string directory)
    {
        using var reader = CheckpointReader.Open(directory);
        return reader.Tensors.Select(e => (e.Name, reader.Read(e.Name, ScalarType.Float32))).ToList();
    }

    /// <summary>Streams tensors into one safetensors file in <paramref name="dtype"/>; returns the writer's sha256.</summary>
    public static string WriteFile(string path, IReadOnlyList<(string Name, Tensor Value)> tensors, StorageType dtype, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var writer = new SafetensorsWriter(path, tensors.Select(t => (t.Name, dtype, t.Value.shape)).ToList(), metadata);
        foreach (var (name, value) in tensors)
        {
            writer.Write(name, value);
        }

        return writer.Commit();
    }

    /// <summary>
    /// Writes a model directory: config.json, tiny-mix's tokenizer.model and the tensors, as
    /// model.safetensors (one shard) or as <paramref name="shards"/> files plus the index.
    /// </summary>
    public static string WriteModel(string directory, IReadOnlyList<(string Name, Tensor Value)> tensors, JsonObject config, StorageType dtype = StorageType.F32, int shards = 1)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, LlamaModel.ConfigFile), config.ToJsonString());
        File.Copy(Path.Combine(RepoPaths.TinyModel, TokenizerFiles.SentencePiece), Path.Combine(directory, TokenizerFiles.SentencePiece), overwrite: true);
        if (shards == 1)
        {
            WriteFile(Path.Combine(directory, CheckpointReader.SingleFile), tensors, dtype);
            return directory;
        }

        var perShard = (tensors.Count + shards - 1) / shards;
        var weightMap = new List<(string Tensor, string File)>();
        for (var s = 0; s < shards; s++)
        {
            var file = $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
            var part = tensors.Skip(s * perShard).Take(perShard).ToList();
            WriteFile(Path.Combine(directory, file), part, dtype);
            weightMap.AddRange(part.Select(t => (t.Name, file)));
        }

        ShardIndex.Write(directory, weightMap, tensors.Sum(t => t.Value.numel() * dtype.ByteSize()));
        return directory;
    }

    /// <summary>Replaces (or adds, at the end) the tensor called <paramref name="name"/>.</summary>
    public static List<(string Name, Tensor Value)> With(this IEnumerable<(string Name, Tensor Value)> tensors, string name, Tensor value)
    {
        var list = tensors.ToList();
        var i = list.FindIndex(t => t.Name == name);
        if (i < 0)
        {
            list.Add((name, value));
        }
        else
        {
            list[i] = (name, value);
        }

        return list;
    }

    public static List<(string Name, Tensor Value)> Without(this IEnumerable<(string Name, Tensor Value)> tensors, string name) =>
        tensors.Where(t => t.Name != name).ToList();

    /// <summary>Logits [T, V] of <paramref name="tokens"/> through the model in <paramref name="directory"/>.</summary>
    public static Tensor Logits(string directory, long[] tokens)
    {
        using var model = LlamaModel.Open(directory);
        return ModelEvaluator.Logits(model, tokens, ComputeOptions.Default);
    }

    /// <summary>Perplexity of the first <paramref name="windows"/> windows of a test split.</summary>
    public static PerplexityResult Perplexity(string directory, string dataset = "fiction", int windows = 3, int seqLen = 256)
    {
        using var model = LlamaModel.Open(directory);
        var tokenizer = TokenizerFiles.Load(model);
        var evaluator = new ModelEvaluator(model, new DataDirectory(RepoPaths.Corpora), tokenizer, seqLen, windows, ComputeOptions.Default);
        return evaluator.Evaluate([dataset]).Single();
    }

    /// <summary>Same shape, same dtype and bit-for-bit the same values.</summary>
    public static bool Identical(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();
    }

    /// <summary>max |a - b| / max |b|.</summary>
    public static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        var a = actual.to_type(ScalarType.Float64);
        var b = expected.to_type(ScalarType.Float64);
        return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
    }

    /// <summary>A safetensors file byte by byte: little-endian u64 header length, header, data.</summary>
    public static byte[] Raw(string header, byte[] data, ulong? headerLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + json.Length);
        return bytes;
    }
}
