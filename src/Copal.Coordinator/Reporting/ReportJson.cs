using System.Text.Json.Nodes;
using Copal.Evaluation;

namespace Copal.Coordinator.Reporting;

/// <summary>JSON parts every report writes alike.</summary>
public static class ReportJson
{
    public static JsonObject ByDataset<T>(IEnumerable<PerplexityResult> results, Func<PerplexityResult, T> value)
    {
        var o = new JsonObject();
        foreach (var r in results)
        {
            o[r.Dataset] = JsonValue.Create(value(r));
        }

        return o;
    }
}
