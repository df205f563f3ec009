using Copal.Model;

namespace Copal.Stages;

/// <summary>Writes a layer range's part of a stage, one pruned layer at a time, into one shard file.</summary>
public interface IShardWriter : IDisposable
{
    void WriteLayer(int layer, DecoderLayerWeights pruned);

    /// <summary>Makes the shard durable under its final name and describes it.</summary>
    ShardFile Commit();

    /// <summary>The writer of <paramref name="store"/> for the layers of <paramref name="source"/>.</summary>
    static IShardWriter Create(StageStore store, string directory, string fileName, LlamaModel source, IEnumerable<int> layers) => store switch
    {
        StageStore.Masks => new MaskShardWriter(directory, fileName, source, layers),
        _ => new CheckpointShardWriter(directory, fileName, source, layers),
    };
}
