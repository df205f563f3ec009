using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Coordinator.Cli.Hosting;
using Copal.Evaluation;
using Copal.Model;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>Writes reports atomically, after checking up front that they can be written.</summary>
public static class ReportWriter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Refuses, before any work starts, a report path that cannot be written.</summary>
    public static void CheckWritable(string? path) => WritableFile.Check(path, "--report");

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
