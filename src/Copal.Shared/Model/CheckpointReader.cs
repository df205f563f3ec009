using System.Text.Json;
using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>
/// The tensors of a Hugging Face checkpoint directory: one `model.safetensors`, or the shards
/// named by `model.safetensors.index.json`. Each shard is opened once and read with positioned reads.
/// A stage stored as masks (<see cref="MaskedCheckpoint"/>) reads as the checkpoint it stands for:
/// its base's tensors, each linear with its keep-mask applied.
/// </summary>
public sealed class CheckpointReader : IDisposable
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>Masked stages based on masked stages are read through each; deeper than this, the chain is taken for a loop.</summary>
    private const int MaxMaskDepth = 16;

    private readonly Dictionary<string, SafetensorsFile> fileOf = new();
    private readonly List<SafetensorsFile> files = new();
    private string? map;

    /// <summary>For a stage stored as masks, its base: every tensor is read from it, masked where <see cref="fileOf"/> holds a mask.</summary>
    private CheckpointReader? baseWeights;

    private CheckpointReader(string directory) => Directory = directory;

    public string Directory { get; }

    public IEnumerable<TensorEntry> Tensors => baseWeights?.Tensors ?? files.SelectMany(f => f.Tensors);

    /// <summary>The files the tensors are read from: shards, and the index or masks file naming them.</summary>
    public IEnumerable<string> SourceFiles => files.Select(f => f.Path).Concat(map is null ? [] : [map]);

    public static CheckpointReader Open(string directory) => Open(directory, 0);

    private static CheckpointReader Open(string directory, int depth)
    {
        var reader = new CheckpointReader(directory);
        try
        {
            var masks = System.IO.Path.Combine(directory, MaskedCheckpoint.FileName);
            var index = System.IO.Path.Combine(directory, IndexFile);
            var single = System.IO.Path.Combine(directory, SingleFile);
            if (File.Exists(masks))
            {
                reader.OpenMasks(masks, depth);
            }
            else if (File.Exists(index))
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

    private void OpenMasks(string path, int depth)
    {
        var masks = MaskedCheckpoint.Read(path);
        if (depth >= MaxMaskDepth)
        {
            throw new CopalInputException($"{path}: stages stored as masks of each other more than {MaxMaskDepth} deep (a loop?)");
        }

        if (masks.Base.Problem() is { } problem)
        {
            throw new CopalInputException($"{Directory} is stored as masks of {masks.Base.Directory}, but {problem}: restore that base, or recompute the stage");
        }

        baseWeights = Open(masks.Base.Directory, depth + 1);
        OpenShards(path);
        foreach (var (name, file) in fileOf)
        {
            var entry = file.Entry(name);
            var elements = baseWeights.Contains(name) ? baseWeights.Entry(name).Shape.Aggregate(1L, (a, b) => a * b) : -1;
            if (entry.DType != StorageType.U8 || !entry.Shape.SequenceEqual([KeepMask.PackedLength(elements)]))
            {
                throw new CopalInputException($"{file.Path}: '{name}' is not the keep-mask of a tensor of {masks.Base.Directory} (U8 {entry.ShapeText})");
            }
        }
    }

    private void OpenShards(string indexPath)
    {
        map = indexPath;
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

    public bool Contains(string name) => baseWeights?.Contains(name) ?? fileOf.ContainsKey(name);

    /// <summary>The tensor's dtype, shape and place; of a masked tensor, the base's.</summary>
    public TensorEntry Entry(string name) => baseWeights?.Entry(name) ?? FileOf(name).Entry(name);

    /// <summary>The file holding the tensor's stored bytes, for verbatim copies; a masked tensor has none.</summary>
    public SafetensorsFile FileOf(string name)
    {
        if (baseWeights is not null)
        {
            return fileOf.ContainsKey(name)
                ? throw new InvalidOperationException($"{Directory}: '{name}' is stored as a mask, no file holds its values")
                : baseWeights.FileOf(name);
        }

        return fileOf.TryGetValue(name, out var f) ? f : throw new CopalInputException($"{Directory}: checkpoint has no tensor '{name}'");
    }

    /// <summary>Reads a tensor and converts it to the compute dtype.</summary>
    public Tensor Read(string name, ScalarType dtype)
    {
        using var stored = ReadStored(name);
        return TensorMemory.OnCpu(stored, dtype);
    }

    /// <summary>A tensor in its stored dtype, in a new tensor the caller owns.</summary>
    private Tensor ReadStored(string name)
    {
        if (baseWeights is null)
        {
            return FileOf(name).Read(name);
        }

        var stored = baseWeights.ReadStored(name);
        if (fileOf.TryGetValue(name, out var masks))
        {
            try
            {
                using var mask = masks.Read(name);
                KeepMask.Apply(stored.bytes, mask.bytes, Entry(name).DType.ByteSize(), $"{masks.Path}: '{name}'");
            }
            catch
            {
                stored.Dispose();
                throw;
            }
        }

        return stored;
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

        baseWeights?.Dispose();
    }
}
