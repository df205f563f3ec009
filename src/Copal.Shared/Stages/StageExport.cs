using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Stages;

/// <summary>
/// `copal export`: rewrites a stage directory as the stage `--store full` writes, file for file: the
/// layer shards with every tensor's stored bytes, the head shard, the index, config and tokenizer
/// files, the accumulator state if the run kept it, and the manifest. A stage stored as masks is read through its
/// base, checked by sha256; a stage stored in full comes out as it is. The output is built in a
/// hidden sibling and renamed into place when complete.
/// </summary>
public static class StageExport
{
    public static void Run(string stageDirectory, string outDirectory)
    {
        if (Directory.Exists(outDirectory) || File.Exists(outDirectory))
        {
            throw new CopalInputException($"--out {outDirectory} exists; export writes a new directory");
        }

        var manifest = StageCheckpoint.TryReadManifest(stageDirectory, out var problem)
            ?? throw new CopalInputException($"{stageDirectory} is not a stage directory ({problem})");
        using var stage = LlamaModel.Open(stageDirectory);
        var build = StageCheckpoint.BuildDirectory(outDirectory);
        try
        {
            var reports = manifest.Reports.Select(r => r with { Weights = WriteLayers(build, stage, new LayerRange(r.FirstLayer, r.LastLayer)) }).ToList();
            var shards = reports.Select(r => r.Weights).Append(StageCheckpoint.WriteHead(build, stage)).ToList();
            // Only the latest committed stage of a run keeps its accumulator (unless --keep-accumulators): a dropped one stays dropped.
            foreach (var importance in manifest.Importance.Where(f => File.Exists(Path.Combine(stageDirectory, f.FileName))))
            {
                AtomicFile.Copy(Path.Combine(stageDirectory, importance.FileName), Path.Combine(build, importance.FileName));
            }

            StageCheckpoint.Complete(build, outDirectory, stage, shards, manifest with { Shards = shards, Reports = reports }, StageStore.Full);
        }
        catch
        {
            Directory.Delete(build, recursive: true);
            throw;
        }
    }

    private static ShardFile WriteLayers(string directory, LlamaModel stage, LayerRange range)
    {
        using var writer = new CheckpointShardWriter(directory, range.WeightsFile, stage, range.Layers);
        foreach (var layer in range.Layers)
        {
            // float32 holds every stored dtype exactly: the writer converts back to the same bits.
            using var weights = stage.LoadLayer(layer, ScalarType.Float32);
            writer.WriteLayer(layer, weights);
        }

        return writer.Commit();
    }
}
