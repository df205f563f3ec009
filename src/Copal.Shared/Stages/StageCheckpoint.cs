using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Copal.Model;
using Copal.Pruning;

namespace Copal.Stages;

/// <summary>
/// A stage's Hugging Face checkpoint directory: shards of pruned layers, a shard with the
/// embedding, final norm and lm_head, the index, and the model's config and tokenizer files.
/// It is built in a hidden sibling directory and renamed into place when complete.
/// </summary>
public static partial class StageCheckpoint
{
    public const string HeadFile = "head.safetensors";
    public const string ManifestFile = "stage.json";

    public static string DirectoryName(int stage, string dataset) => $"stage-{stage}-{dataset}";

    /// <summary>
    /// A new, empty directory for one attempt at the stage (or export), after deleting those of
    /// earlier attempts at the same directory. Each attempt has its own (a random suffix): a node of
    /// an abandoned attempt that comes back, e.g. thawed after a freeze, finds its directory gone
    /// and cannot write into the stage being built now.
    /// </summary>
    public static string BuildDirectory(string finalDirectory)
    {
        var parent = Path.GetDirectoryName(Path.GetFullPath(finalDirectory))!;
        var prefix = "." + Path.GetFileName(finalDirectory) + ".partial";
        Directory.CreateDirectory(parent);
        foreach (var earlier in Directory.EnumerateDirectories(parent, prefix + "*").Where(d => IsAttempt(Path.GetFileName(d), prefix)))
        {
            Directory.Delete(earlier, recursive: true);
        }

        var build = Path.Combine(parent, $"{prefix}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        Directory.CreateDirectory(build);
        return build;
    }

    private static bool IsAttempt(string name, string prefix) =>
        name == prefix || (name.StartsWith(prefix + "-", StringComparison.Ordinal) && name[(prefix.Length + 1)..].All(char.IsAsciiHexDigitLower));

    /// <summary>True for a directory name <see cref="BuildDirectory"/> gives a stage: when no Copal process is writing, a stage cut short by a crash.</summary>
    public static bool IsBuildDirectoryName(string name) => BuildDirectoryName().IsMatch(name);

    [GeneratedRegex(@"^\.stage-[0-9]+-.+\.partial(-[0-9a-f]+)?$")]
    private static partial Regex BuildDirectoryName();

    /// <summary>The never-pruned tensors, copied verbatim from the source.</summary>
    public static ShardFile WriteHead(string directory, LlamaModel source)
    {
        var names = new List<string> { TensorNames.Embedding, TensorNames.FinalNorm };
        if (source.Weights.Contains(TensorNames.LmHead))
        {
            names.Add(TensorNames.LmHead);
        }

        var layout = names.Select(n => source.Weights.Entry(n)).Select(e => (e.Name, e.DType, e.Shape)).ToList();
        using var writer = new SafetensorsWriter(Path.Combine(directory, HeadFile), layout);
        foreach (var name in names)
        {
            CheckpointShardWriter.CopyVerbatim(writer, source, name);
        }

        return ShardFile.Commit(writer, HeadFile);
    }

    /// <summary>The manifest of a stage directory, or null and why: a missing or damaged manifest is the stage's damage, not an error.</summary>
    public static StageManifest? TryReadManifest(string directory, out string? problem)
    {
        var path = Path.Combine(directory, ManifestFile);
        problem = null;
        try
        {
            var manifest = CopalJson.Deserialize<StageManifest>(File.ReadAllText(path));
            if (manifest.Shards is not null && manifest.Importance is not null && manifest.Reports is not null)
            {
                return manifest;
            }

            problem = $"{path} is not a stage manifest";
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            problem = $"{path} is missing";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or InvalidDataException)
        {
            problem = $"{path} is unreadable ({e.Message})";
        }

        return null;
    }

    /// <summary>
    /// Writes the index (or, stored as masks, the masks file naming the source as base), copies
    /// config and tokenizer files, and renames the directory into place.
    /// </summary>
    public static void Complete(string buildDirectory, string finalDirectory, LlamaModel source, IReadOnlyList<ShardFile> shards, StageManifest manifest, StageStore store)
    {
        var weightMap = shards.SelectMany(s => s.Tensors.Select(t => (t, s.FileName)));
        if (store == StageStore.Masks)
        {
            new MaskedCheckpoint(BaseReference.Of(source.Weights), weightMap.ToDictionary(e => e.t, e => e.FileName)).Write(buildDirectory);
        }
        else
        {
            ShardIndex.Write(buildDirectory, weightMap, shards.Sum(s => s.Bytes));
        }

        foreach (var file in Directory.GetFiles(source.Directory))
        {
            var name = Path.GetFileName(file);
            if (!name.EndsWith(".safetensors", StringComparison.Ordinal) && name is not (CheckpointReader.IndexFile or MaskedCheckpoint.FileName))
            {
                AtomicFile.Copy(file, Path.Combine(buildDirectory, name));
            }
        }

        AtomicFile.WriteAllText(Path.Combine(buildDirectory, ManifestFile), CopalJson.Serialize(manifest));
        if (Directory.Exists(finalDirectory))
        {
            Directory.Delete(finalDirectory, recursive: true);
        }

        Directory.Move(buildDirectory, finalDirectory);

        // The stage's commit line, appended next, must not outlive this rename.
        DirectorySync.FlushParent(finalDirectory);
    }
}

/// <summary>What a stage directory holds: its files with digests and the layer range each shard covers.</summary>
public sealed record StageManifest(int Stage, string Dataset, string Method, string Strategy, IReadOnlyList<ShardFile> Shards, IReadOnlyList<ShardFile> Importance, IReadOnlyList<ShardReport> Reports)
{
    public SparsityReport Sparsity()
    {
        var sparsity = new SparsityReport();
        foreach (var report in Reports.OrderBy(r => r.FirstLayer))
        {
            sparsity.Add(report.Sparsity);
        }

        return sparsity;
    }
}
