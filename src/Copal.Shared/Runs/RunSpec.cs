using Copal.Cluster;
using Copal.Model;
using Copal.Pruning;

namespace Copal.Runs;

/// <summary>What a run computes, kept in its directory so that `copal resume` can finish it.</summary>
public sealed record RunSpec(string ModelDirectory, string DataDirectory, IReadOnlyList<string> Datasets, PruningSettings Settings, ComputeOptions Compute)
{
    public const string FileName = "run.json";

    public void Save(string runDirectory) => AtomicFile.WriteAllText(Path.Combine(runDirectory, FileName), WireJson.Serialize(this));

    public static RunSpec Load(string runDirectory)
    {
        var path = Path.Combine(runDirectory, FileName);
        if (!File.Exists(path))
        {
            throw new CopalInputException($"{runDirectory}: not a run directory ({FileName} not found)");
        }

        try
        {
            return WireJson.Deserialize<RunSpec>(File.ReadAllText(path));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new CopalInputException($"{path}: unreadable run spec ({e.Message})");
        }
    }
}
