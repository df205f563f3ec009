using Copal.Evaluation;
using Copal.Model;
using Copal.Pruning;
using Copal.Stages;

namespace Copal.Runs;

/// <summary>What a run computes, kept in its directory so that `copal resume` can finish it.</summary>
/// <param name="Tokenizer">A tokenizer given instead of the checkpoint's own, or null.</param>
/// <param name="TextField">The JSON field or Parquet column of the records' text.</param>
/// <param name="Store">What stage directories hold of the weights; runs of older versions have none and stored them in full.</param>
/// <param name="KeepAccumulators">Keep every stage's accumulator, not only the latest committed one's.</param>
public sealed record RunSpec(string ModelDirectory, string DataDirectory, IReadOnlyList<string> Datasets, PruningSettings Settings, ComputeOptions Compute, string? Tokenizer = null, string TextField = Data.DataDirectory.DefaultTextField, StageStore Store = StageStore.Full, bool KeepAccumulators = false)
{
    public const string FileName = "run.json";

    public void Save(string runDirectory) => AtomicFile.WriteAllText(Path.Combine(runDirectory, FileName), CopalJson.Serialize(this));

    /// <summary>The spec of a run directory, refused unless it describes a run `copal prune` would start.</summary>
    public static RunSpec Load(string runDirectory)
    {
        var path = Path.Combine(runDirectory, FileName);
        if (!File.Exists(path))
        {
            throw new CopalInputException($"{runDirectory}: not a run directory ({FileName} not found)");
        }

        RunSpec spec;
        try
        {
            spec = CopalJson.Deserialize<RunSpec>(File.ReadAllText(path));
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
        {
            throw new CopalInputException($"{path}: unreadable run spec ({e.Message})");
        }

        spec.Check(path);
        return spec;
    }

    /// <summary>Refuses a spec whose sequence length its model, once opened, cannot take.</summary>
    public void CheckModel(LlamaConfig config, string runDirectory) =>
        ModelEvaluator.CheckSeqLen(config, Settings.SeqLen, Field(Path.Combine(runDirectory, FileName), "Settings.SeqLen"));

    private static string Field(string path, string name) => $"{path}: {name}";

    /// <summary>The checks prune applies to its options, here naming fields of run.json: the file may have been edited or truncated since.</summary>
    private void Check(string path)
    {
        // The serializer leaves a missing or null member null whatever its declared type.
        Present(ModelDirectory, Field(path, nameof(ModelDirectory)));
        Present(DataDirectory, Field(path, nameof(DataDirectory)));
        Present(Datasets, Field(path, nameof(Datasets)));
        Present(Settings, Field(path, nameof(Settings)));
        Present(Settings.Mask, Field(path, "Settings.Mask"));
        Present(Settings.Perturbation, Field(path, "Settings.Perturbation"));
        Present(Compute, Field(path, nameof(Compute)));
        Present(TextField, Field(path, nameof(TextField)));

        InputChecks.DatasetNames(Datasets, Field(path, nameof(Datasets)));
        var names = new SettingNames(
            Sparsity: Field(path, "Settings.Mask.Sparsity"),
            Pattern: Field(path, "Settings.Mask.Pattern"),
            Group: Field(path, "Settings.Mask.Group"),
            Samples: Field(path, "Settings.Samples"),
            SeqLen: Field(path, "Settings.SeqLen"),
            EvalWindows: Field(path, "Settings.EvalWindows"),
            Perturbation: Field(path, "Settings.Perturbation.Model"),
            Epsilon: Field(path, "Settings.Perturbation.Epsilon"),
            BatchSize: Field(path, "Compute.BatchSize"),
            DType: Field(path, "Compute.DType"));
        Settings.Check(names);
        Compute.Check(names);
    }

    private static void Present(object? value, string name)
    {
        if (value is null)
        {
            throw new CopalInputException($"{name} is missing");
        }
    }
}
