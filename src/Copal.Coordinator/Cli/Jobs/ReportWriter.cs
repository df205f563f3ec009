using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Coordinator.Cli.Hosting;
using Copal.Model;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>Writes reports atomically, after checking up front that they can be written.</summary>
public static class ReportWriter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Refuses, before any work starts, a report path that cannot be written.</summary>
    public static void CheckWritable(string? path) => WritableFile.Check(path, "--report");

    public static void WriteJson(string path, JsonNode json) => AtomicFile.WriteAllText(path, json.ToJsonString(Indented) + "\n");
}
