using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Copal.Evaluation;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Runs;
using Copal.Stages;
using Copal.Transport;
using Parquet;
using Parquet.Schema;
using TorchSharp;

namespace Copal.Fuzz;

/// <summary>Valid inputs of every parser, written with the project's own writers where it has them.</summary>
public static class Seeds
{
    /// <summary>The shard a <see cref="ShardIndex"/> seed maps its tensors to.</summary>
    public const string ShardName = "model-00001-of-00001.safetensors";

    private static readonly string[] Records = ["The first record.", "A second one, with \"quotes\" and ünïcode.", ""];

    public static IEnumerable<byte[]> Safetensors()
    {
        yield return SafetensorsBytes("""{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},"e":{"dtype":"F16","shape":[0],"data_offsets":[22,22]}}""", 22);
        yield return SafetensorsBytes("{}", 0);
    }

    public static IEnumerable<byte[]> ShardIndex()
    {
        yield return Encoding.UTF8.GetBytes($$$"""{"metadata":{"total_size":22},"weight_map":{"w":"{{{ShardName}}}","b":"{{{ShardName}}}"}}""");
    }

    public static IEnumerable<byte[]> Config()
    {
        yield return """{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":172,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"rms_norm_eps":1e-05,"rope_theta":10000.0,"max_position_embeddings":512,"vocab_size":1000,"tie_word_embeddings":false,"bos_token_id":1}"""u8.ToArray();
        yield return """{"hidden_size":64,"intermediate_size":172,"num_hidden_layers":2,"num_attention_heads":4,"head_dim":16,"vocab_size":1000,"tie_word_embeddings":true,"attention_bias":true,"mlp_bias":null,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}}"""u8.ToArray();
    }

    public static IEnumerable<byte[]> SentencePiece()
    {
        yield return SentencePieceSeed.Model(byteFallback: false);
        yield return SentencePieceSeed.Model(byteFallback: true);
    }

    public static IEnumerable<byte[]> Frames()
    {
        using var stream = new MemoryStream();
        using (var payload = torch.arange(6, dtype: torch.float32).reshape(2, 3))
        using (var targets = torch.arange(2, dtype: torch.int64))
        {
            Write(stream, new ActivationFrame(3, 1, FrameKind.Evaluation, 7, 16, "fiction", payload, targets));
        }

        yield return stream.ToArray();
        using (var payload = torch.ones(2, 2, dtype: torch.bfloat16))
        {
            Write(stream, new ActivationFrame(3, 2, FrameKind.Calibration, 8, 18, "news", payload));
        }

        Write(stream, new ActivationFrame(3, 2, FrameKind.Command, 9, 0, """{"command":"finish"}"""));
        Write(stream, ActivationFrame.EndOfStream(3, 2, 10));
        yield return stream.ToArray();
    }

    public static IEnumerable<byte[]> JsonLines()
    {
        yield return JsonLinesBytes();
    }

    public static IEnumerable<byte[]> GzipJsonLines()
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal))
        {
            gzip.Write(JsonLinesBytes());
        }

        yield return compressed.ToArray();
    }

    public static IEnumerable<byte[]> Parquet() => [ParquetBytes().GetAwaiter().GetResult()];

    public static IEnumerable<byte[]> RunSpecs()
    {
        var settings = new PruningSettings
        {
            Method = PruningMethod.Copal,
            Strategy = Strategy.Copal,
            Propagation = Propagation.Dense,
            Mask = new MaskPolicy(0.5, Metrics.Describe(PruningMethod.Copal).DefaultGroup, null),
            Samples = 8,
            SeqLen = 128,
            EvalWindows = 4,
        };
        yield return Encoding.UTF8.GetBytes(CopalJson.Serialize(new RunSpec("data/models/tiny-mix", "data/corpora", ["fiction", "news"], settings, ComputeOptions.Default)));
        var nm = settings with
        {
            Method = PruningMethod.Wanda,
            Mask = new MaskPolicy(0.5, Metrics.Describe(PruningMethod.Wanda).DefaultGroup, new NmPattern(2, 4)),
            Perturbation = new Perturbation(PerturbationModel.Gaussian, 0.01, 5),
            EvalWindows = null,
        };
        yield return Encoding.UTF8.GetBytes(CopalJson.Serialize(new RunSpec("m", "d", ["science"], nm, ComputeOptions.Default with { DType = torch.ScalarType.BFloat16 }, "tok.model", "content")));
    }

    public static IEnumerable<byte[]> Journal()
    {
        var time = new DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        JournalEntry[] entries =
        [
            new(JournalEntry.DenseEvaluated, 0, Perplexity: [new PerplexityResult("fiction", 12.5, 4096, 4, 10334.2)], Seconds: 1.5, Time: time),
            new(JournalEntry.StageStarted, 1, "fiction", Time: time),
            new(JournalEntry.StageCommitted, 1, "fiction", new Dictionary<string, string> { ["head.safetensors"] = new string('a', 64) }, Seconds: 3, Time: time),
            new(JournalEntry.RunCompleted, 1, Time: time),
        ];
        var lines = string.Concat(entries.Select(e => CopalJson.Serialize(e) + "\n"));
        yield return Encoding.UTF8.GetBytes(lines);

        // A torn last line, as a crash leaves it.
        yield return Encoding.UTF8.GetBytes(lines + lines[..20]);
    }

    public static IEnumerable<byte[]> StageManifests()
    {
        var shard = new ShardFile("layers-0-1.safetensors", new string('0', 64), 4096, ["model.layers.0.mlp.up_proj.weight"]);
        var report = new ShardReport(0, 1, shard, shard with { FileName = "importance-0-1.safetensors" }, [new LinearSparsity("model.layers.0.mlp.up_proj", 2048, 4096)]);
        yield return Encoding.UTF8.GetBytes(CopalJson.Serialize(new StageManifest(1, "fiction", "copal", "Copal", [shard], [report.Importance!], [report])));
    }

    private static byte[] SafetensorsBytes(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        for (var i = 0; i < dataBytes; i++)
        {
            bytes[8 + json.Length + i] = (byte)i;
        }

        return bytes;
    }

    private static byte[] JsonLinesBytes() =>
        Encoding.UTF8.GetBytes(string.Join("\n", Records.Select((r, i) => CopalJson.Serialize(new Dictionary<string, object> { ["id"] = i, ["text"] = r }))).Replace("\n", "\n\n", StringComparison.Ordinal) + "\n");

    private static async Task<byte[]> ParquetBytes()
    {
        var field = new DataField<string>("text", nullable: true);
        using var stream = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream))
        {
            foreach (var rows in Records.Chunk(2))
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(field, rows);
            }
        }

        return stream.ToArray();
    }

    private static void Write(Stream stream, ActivationFrame frame)
    {
        // The frame does not own tensors the caller disposes: it is only written.
        ActivationWire.WriteAsync(stream, frame).GetAwaiter().GetResult();
    }
}
