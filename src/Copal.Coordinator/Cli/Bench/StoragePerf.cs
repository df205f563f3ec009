using System.Text.Json.Nodes;
using Copal.Model;
using Copal.Pipeline;
using Copal.Planning;
using Copal.Pruning;
using Copal.Stages;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// Bytes a stage writes of its weights over the model's `*.safetensors` bytes, with `--store full`
/// and `--store masks`: one magnitude stage (it needs no calibration) of the generated checkpoint.
/// The copal accumulator, float32 and written alike with either store, is given apart, and so is
/// the disk a three-stage copal run leaves with each store.
/// </summary>
public sealed class StoragePerf(PerfSettings settings)
{
    public JsonObject Measure(string modelDir, string root)
    {
        using var model = LlamaModel.Open(modelDir);
        double modelBytes = Directory.GetFiles(modelDir, "*.safetensors").Sum(f => new FileInfo(f).Length);
        var full = StageBytes(model, root, StageStore.Full);
        var masks = StageBytes(model, root, StageStore.Masks);
        var accumulator = CostModel.LayerMethodStateBytes(model.Config, PruningMethod.Copal) * model.Config.NumHiddenLayers;
        return new JsonObject
        {
            ["model_bytes"] = modelBytes,
            ["full_stage_bytes"] = full,
            ["masks_stage_bytes"] = masks,
            ["copal_accumulator_bytes"] = accumulator,
            ["full_over_model"] = full / modelBytes,
            ["masks_over_model"] = masks / modelBytes,
            ["copal_accumulator_over_model"] = accumulator / modelBytes,

            // What a three-stage copal run leaves, from the bytes above: before `--store masks` every
            // stage kept its weights and its accumulator; now only the newest accumulator is kept.
            ["three_stage_copal_run_bytes"] = new JsonObject
            {
                ["every_stage_full_with_accumulator"] = 3 * (full + accumulator),
                ["full_one_accumulator"] = (3 * full) + accumulator,
                ["masks_one_accumulator"] = (3 * masks) + accumulator,
            },
        };
    }

    /// <summary>The shards of one stage, and the head and index or masks file completing it.</summary>
    private long StageBytes(LlamaModel model, string root, StageStore store)
    {
        var stage = Path.Combine(root, "storage-" + store.ToString().ToLowerInvariant());
        var build = StageCheckpoint.BuildDirectory(stage);
        using (var pipeline = new LocalPipeline(model, settings.StageSettings(PruningMethod.Magnitude, Strategy.Reset), settings.Compute))
        {
            pipeline.BeginStage(new StageAssignment(1, 1, PerfSettings.Dataset, build, null, null, StageSchedule.Wave, store));
            var shards = pipeline.FinishStage(null).Select(r => r.Weights).ToList();
            if (store == StageStore.Full)
            {
                shards.Add(StageCheckpoint.WriteHead(build, model));
            }

            StageCheckpoint.Complete(build, stage, model, shards, new StageManifest(1, PerfSettings.Dataset, "magnitude", "reset", shards, [], []), store);
        }

        var bytes = Directory.GetFiles(stage)
            .Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || Path.GetFileName(f) is CheckpointReader.IndexFile or MaskedCheckpoint.FileName)
            .Sum(f => new FileInfo(f).Length);
        Directory.Delete(stage, recursive: true);
        return bytes;
    }
}
