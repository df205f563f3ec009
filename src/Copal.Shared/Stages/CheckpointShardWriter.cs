using Copal.Model;

namespace Copal.Stages;

/// <summary>A file of a stage checkpoint, with what it holds and its digest.</summary>
public sealed record ShardFile(string FileName, string Sha256, long Bytes, IReadOnlyList<string> Tensors)
{
    /// <summary>Commits <paramref name="writer"/>'s file and describes it.</summary>
    public static ShardFile Commit(SafetensorsWriter writer, string fileName)
    {
        var sha = writer.Commit();
        return new ShardFile(fileName, sha, writer.Layout.Sum(e => e.ByteLength), writer.Layout.Select(e => e.Name).ToList());
    }
}

/// <summary>
/// Streams the pruned decoder layers of a layer range into one safetensors shard, with the
/// source's tensor names and stored dtypes. Norms and biases, never pruned, are copied verbatim from the source.
/// </summary>
public sealed class CheckpointShardWriter : IShardWriter
{
    private readonly LlamaModel source;
    private readonly SafetensorsWriter writer;
    private readonly string fileName;

    public CheckpointShardWriter(string directory, string fileName, LlamaModel source, IEnumerable<int> layers)
    {
        this.source = source;
        this.fileName = fileName;
        var layout = layers.SelectMany(l => LayerTensorNames(source.Config, l))
            .Select(name => source.Weights.Entry(name))
            .Select(e => (e.Name, e.DType, e.Shape))
            .ToList();
        writer = new SafetensorsWriter(Path.Combine(directory, fileName), layout);
    }

    public static string FileNameFor(int firstLayer, int lastLayer) => $"layers-{firstLayer:D5}-{lastLayer:D5}.safetensors";

    public static IEnumerable<string> LayerTensorNames(LlamaConfig config, int layer) =>
        LlamaLinear.All.Select(l => TensorNames.Linear(layer, l)).Concat(VerbatimTensorNames(config, layer));

    /// <summary>The layer's tensors that are never pruned: its biases (if any) and norms.</summary>
    private static IEnumerable<string> VerbatimTensorNames(LlamaConfig config, int layer) =>
        LlamaLinear.All.Where(config.HasBias).Select(l => TensorNames.Bias(layer, l))
            .Append(TensorNames.InputNorm(layer))
            .Append(TensorNames.PostAttentionNorm(layer));

    public void WriteLayer(int layer, DecoderLayerWeights pruned)
    {
        foreach (var linear in LlamaLinear.All)
        {
            writer.Write(TensorNames.Linear(layer, linear), pruned[linear]);
        }

        foreach (var name in VerbatimTensorNames(source.Config, layer))
        {
            CopyVerbatim(writer, source, name);
        }
    }

    public ShardFile Commit() => ShardFile.Commit(writer, fileName);

    public static void CopyVerbatim(SafetensorsWriter writer, LlamaModel source, string name)
    {
        writer.Copy(name, source.Weights.FileOf(name));
    }

    public void Dispose() => writer.Dispose();
}
