using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Evaluation;
using Copal.Model;

namespace Copal.Coordinator.Cli;

/// <summary>Writes reports atomically, after checking up front that they can be written.</summary>
public static class ReportWriter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Refuses a report path whose folder does not exist before any work starts.</summary>
    public static void CheckWritable(string? path)
    {
        if (path == null)
        {
            return;
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder))
        {
            throw new CopalInputException($"--report {path}: folder {folder} does not exist");
        }

        if (Directory.Exists(path))
        {
            throw new CopalInputException($"--report {path}: is a directory");
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
