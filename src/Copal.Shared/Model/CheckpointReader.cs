using System.Text.Json;
using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>
/// The tensors of a Hugging Face checkpoint directory: one `model.safetensors`, or the shards
/// named by `model.safetensors.index.json`. Each shard is opened once and read with positioned reads.
/// </summary>
public sealed class CheckpointReader : IDisposable
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    private readonly Dictionary<string, SafetensorsFile> fileOf = new();
    private readonly List<SafetensorsFile> files = new();

    private CheckpointReader(string directory) => Directory = directory;

    public string Directory { get; }

    public IEnumerable<TensorEntry> Tensors => files.SelectMany(f => f.Tensors);

    public static CheckpointReader Open(string directory)
    {
        var reader = new CheckpointReader(directory);
        try
        {
            var index = System.IO.Path.Combine(directory, IndexFile);
            var single = System.IO.Path.Combine(directory, SingleFile);
            if (File.Exists(index))
            {
                reader.OpenShards(index);
            }
            else if (File.Exists(single))
            {
                reader.Add(SafetensorsFile.Open(single), null);
            }
            else
            {
                throw new CopalInputException($"{directory}: neither {SingleFile} nor {IndexFile} found");
            }

            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    private void OpenShards(string indexPath)
    {
        var weightMap = new Dictionary<string, string>();
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            foreach (var p in doc.RootElement.GetProperty("weight_map").EnumerateObject())
            {
                var shard = p.Value.GetString();

                // A shard is a file of this directory: a path in the index must not reach any other file.
                if (string.IsNullOrEmpty(shard) || System.IO.Path.GetFileName(shard) != shard)
                {
                    throw new CopalInputException($"{indexPath}: weight_map entry '{p.Name}' is not a file name of the checkpoint");
                }

                if (!weightMap.TryAdd(p.Name, shard))
                {
                    throw new CopalInputException($"{indexPath}: weight_map lists tensor '{p.Name}' twice");
                }
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new CopalInputException($"{indexPath}: not a valid safetensors index ({e.Message})");
        }

        foreach (var group in weightMap.GroupBy(kv => kv.Value))
        {
            var shardPath = System.IO.Path.Combine(Directory, group.Key);
            var shard = SafetensorsFile.Open(shardPath);
            Add(shard, group.Select(kv => kv.Key).ToHashSet());
        }
    }

    private void Add(SafetensorsFile file, HashSet<string>? expected)
    {
        files.Add(file);
        foreach (var t in file.Tensors)
        {
            if (expected == null || expected.Contains(t.Name))
            {
                fileOf[t.Name] = file;
            }
        }

        foreach (var name in expected ?? [])
        {
            if (!file.Contains(name))
            {
                throw new CopalInputException($"{file.Path}: the index lists tensor '{name}' but the shard does not hold it");
            }
        }
    }

    public bool Contains(string name) => fileOf.ContainsKey(name);

    public TensorEntry Entry(string name) => FileOf(name).Entry(name);

    public SafetensorsFile FileOf(string name) =>
        fileOf.TryGetValue(name, out var f) ? f : throw new CopalInputException($"{Directory}: checkpoint has no tensor '{name}'");

    /// <summary>Reads a tensor and converts it to the compute dtype.</summary>
    public Tensor Read(string name, ScalarType dtype)
    {
        using var stored = FileOf(name).Read(name);
        return TensorMemory.OnCpu(stored, dtype);
    }

    /// <summary>Reads rows of a matrix (e.g. the embedding rows of token ids) and converts them to the compute dtype.</summary>
    public Tensor ReadRows(string name, IReadOnlyList<long> rows, ScalarType dtype)
    {
        using var stored = FileOf(name).ReadRows(name, rows);
        return TensorMemory.OnCpu(stored, dtype);
    }

    public void Dispose()
    {
        foreach (var f in files)
        {
            f.Dispose();
        }
    }
}
