using System.Collections.Concurrent;

namespace Copal.Model;

/// <summary>
/// The checkpoint a stage stored as masks is read against: its directory and the sha256 of every
/// file its tensors are read from, checked before any of them is used.
/// </summary>
/// <param name="Files">File name (in <paramref name="Directory"/>) to sha256.</param>
public sealed record BaseReference(string Directory, IReadOnlyDictionary<string, string> Files)
{
    // Base checkpoints are large: a file is hashed once per process, and again only once it was written to.
    private static readonly ConcurrentDictionary<(string Path, long Length, DateTime Written), string> Digests = new();

    public static BaseReference Of(CheckpointReader weights) =>
        new(Path.GetFullPath(weights.Directory), weights.SourceFiles.Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f), Sha256));

    /// <summary>Null when every file still has its recorded sha256, else which one does not.</summary>
    public string? Problem()
    {
        foreach (var (name, sha) in Files)
        {
            var path = Path.Combine(Directory, name);
            if (!File.Exists(path))
            {
                return $"{path} is missing";
            }

            if (Sha256(path) != sha)
            {
                return $"{path} has changed since (its sha256 differs)";
            }
        }

        return null;
    }

    private static string Sha256(string path)
    {
        var file = new FileInfo(path);
        return Digests.GetOrAdd((file.FullName, file.Length, file.LastWriteTimeUtc), key => FileDigest.Sha256(key.Path));
    }
}
