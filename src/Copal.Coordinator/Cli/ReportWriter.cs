using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Evaluation;
using Copal.Model;

namespace Copal.Coordinator.Cli;

/// <summary>Writes reports atomically, after checking up front that they can be written.</summary>
public static class ReportWriter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Refuses, before any work starts, a report path that cannot be written: a directory, or in a folder that is missing or read-only.</summary>
    public static void CheckWritable(string? path)
    {
        if (path == null)
        {
            return;
        }

        if (Directory.Exists(path))
        {
            throw new CopalInputException($"--report {path}: is a directory");
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder))
        {
            throw new CopalInputException($"--report {path}: folder {folder} does not exist");
        }

        // Permissions, read-only mounts and ACLs are only known by trying: write a file the way the report will be written.
        try
        {
            using var probe = new FileStream(Path.Combine(folder, $".copal-write-check-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new CopalInputException($"--report {path}: cannot write in {folder} ({e.Message})", e);
        }
    }

    public static JsonObject ByDataset<T>(IEnumerable<PerplexityResult> results, Func<PerplexityResult, T> value)
    {
        var o = new JsonObject();
        foreach (var r in results)
        {
            o[r.Dataset] = JsonValue.Create(value(r));
        }

        return o;
    }

    public static void WriteJson(string path, JsonNode json) => AtomicFile.WriteAllText(path, json.ToJsonString(Indented) + "\n");
}
