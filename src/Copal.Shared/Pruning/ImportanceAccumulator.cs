using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Pruning;

/// <summary>
/// The importance state carried between stages: one float32 tensor per linear (W* for COPAL).
/// It reads the previous stage's state lazily, one linear at a time, adds this stage's
/// contribution, and streams the sums into the next state file one linear at a time, so that
/// no more than one layer's state is ever in memory.
/// </summary>
public sealed class ImportanceAccumulator : IDisposable
{
    private const string FilePrefix = "importance-";

    private readonly List<SafetensorsFile> previous;
    private readonly SafetensorsWriter? next;

    private ImportanceAccumulator(List<SafetensorsFile> previous, SafetensorsWriter? next)
    {
        this.previous = previous;
        this.next = next;
    }

    public static string TensorName(int layer, LlamaLinear linear) => $"model.layers.{layer}.{linear.Module}.importance";

    /// <summary>The state file of a layer range (one per shard, so ranges can change between stages).</summary>
    public static string FileName(int firstLayer, int lastLayer) => $"{FilePrefix}{firstLayer:D5}-{lastLayer:D5}.safetensors";

    /// <summary>Every accumulator state file of a stage directory.</summary>
    public static IReadOnlyList<string> FilesIn(string stageDirectory) =>
        Directory.GetFiles(stageDirectory, FilePrefix + "*.safetensors").Order(StringComparer.Ordinal).ToList();

    /// <param name="previousStage">The last stage's directory, whose state is carried, or null to start from zero.</param>
    /// <param name="nextPath">Where this stage's state goes.</param>
    public static ImportanceAccumulator Open(string? previousStage, string nextPath, IReadOnlyList<(string Name, StorageType DType, long[] Shape)> layout, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var files = new List<SafetensorsFile>();
        try
        {
            foreach (var path in previousStage is null ? [] : FilesIn(previousStage))
            {
                files.Add(SafetensorsFile.Open(path));
            }

            return new ImportanceAccumulator(files, layout.Count == 0 ? null : new SafetensorsWriter(nextPath, layout, metadata));
        }
        catch
        {
            files.ForEach(f => f.Dispose());
            throw;
        }
    }

    /// <summary>The state file layout for a layer range: one tensor per linear, in layer order.</summary>
    public static List<(string Name, StorageType DType, long[] Shape)> Layout(LlamaConfig config, IEnumerable<int> layers, Func<long, long, long[]> statisticShape) =>
        layers.SelectMany(l => LlamaLinear.All.Select(linear =>
        {
            var shape = linear.Shape(config);
            return (TensorName(l, linear), StorageType.F32, statisticShape(shape[0], shape[1]));
        })).Where(e => e.Item3.Length > 0).ToList();

    /// <summary>The previous state for a linear, or null when starting fresh.</summary>
    public Tensor? Previous(int layer, LlamaLinear linear)
    {
        if (previous.Count == 0)
        {
            return null;
        }

        var name = TensorName(layer, linear);
        var file = previous.FirstOrDefault(f => f.Contains(name))
            ?? throw new CopalInputException($"{Path.GetDirectoryName(previous[0].Path)}: no accumulator state holds '{name}'");
        return file.Read(name);
    }

    /// <summary>Records a linear's accumulated state; calls must follow the layout order.</summary>
    public void Save(int layer, LlamaLinear linear, Tensor state) => next?.Write(TensorName(layer, linear), state);

    /// <summary>Commits the new state file. Returns its sha256, or null when nothing is kept.</summary>
    public string? Commit() => next?.Commit();

    public void Dispose()
    {
        previous.ForEach(f => f.Dispose());
        next?.Dispose();
    }
}
