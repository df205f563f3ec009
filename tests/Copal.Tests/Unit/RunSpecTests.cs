using System.Text.Json.Nodes;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// `copal resume` and `copal status` refuse a run.json that does not describe a run `copal prune`
/// would start, with the checks prune applies to its options, before anything is written.
/// </summary>
public class RunSpecTests
{
    // run.json as `copal prune` writes it for two datasets.
    private static readonly Lazy<string> Written = new(() =>
    {
        using var dir = new TempDir();
        var run = CopalCli.Run([.. ResumeTests.Run, "--datasets", "fiction,science", "--out", dir.File("run")]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        return File.ReadAllText(Path.Combine(dir.File("run"), "run.json"));
    });

    /// <summary>A field of run.json (dotted; empty: the whole file), its new JSON (null: removed), what the refusal names, and whether status can tell without the model.</summary>
    public static TheoryData<string, string?, string, bool> BadSpecs() => new()
    {
        { "Compute.BatchSize", "0", "Compute.BatchSize must be at least 1, got 0", true },
        { "Settings.Mask.Sparsity", "5", "Settings.Mask.Sparsity must be in (0, 1), got 5", true },
        { "Settings.Mask.Pattern", """{"N":4,"M":4}""", "Settings.Mask.Pattern 4:4: N must be at least 1 and less than M", true },
        { "Settings.Mask.Pattern", """{"N":1,"M":4}""", "Settings.Mask.Sparsity 0.5 is not the sparsity of", true },
        { "Settings.Samples", "0", "Settings.Samples must be at least 1, got 0", true },
        { "Compute.DType", "\"Float16\"", "Compute.DType must be float32 or bfloat16, got Float16", true },
        { "Datasets", """["fiction","fiction"]""", "Datasets names 'fiction' twice", true },
        { "Datasets", "null", "Datasets is missing", true },
        { "Settings", null, "Settings is missing", true },
        { string.Empty, "null", "unreadable run spec", true },
        { "Settings.Samples", "2000000000", "Settings.Samples 2000000000 of ", true },
        { "Settings.Mask", """{"Sparsity":0.5,"Group":"Matrix","Pattern":{"N":2,"M":4}}""", "Settings.Mask.Group matrix does not apply to ", true },
        { "Settings.Perturbation.Epsilon", "0.5", "Settings.Perturbation.Epsilon applies only to ", true },
        { "Datasets", """["fiction","../science"]""", "Datasets: '../science' is not a dataset name", true },
        { "Settings.SeqLen", "4096", "Settings.SeqLen 4096 exceeds the model's max_position_embeddings 256", false },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public void ResumeAndStatusRefuseARunJsonThatDescribesNoValidRun(string field, string? json, string mention, bool statusToo)
    {
        using var dir = new TempDir();
        var runDir = Directory.CreateDirectory(dir.File("run")).FullName;
        var specPath = Path.Combine(runDir, "run.json");
        var edited = Edited(field, json);

        // Only run.json: the coordinator died right after writing it, so every stage is left to compute.
        File.WriteAllText(specPath, edited);

        // Before the fix a zero batch size looped forever: a minute is far more than a refusal takes.
        var resumed = CopalCli.Run(TimeSpan.FromMinutes(1), "resume", runDir);
        AssertRefused(resumed, specPath, mention);
        Assert.Equal([specPath], Directory.GetFileSystemEntries(runDir));
        Assert.Equal(edited, File.ReadAllText(specPath));

        var status = CopalCli.Run("status", runDir);
        if (statusToo)
        {
            AssertRefused(status, specPath, mention);
        }
        else
        {
            Assert.True(status.ExitCode == 0, status.Stderr);
        }
    }

    private static string Edited(string field, string? json)
    {
        if (field.Length == 0)
        {
            return json!;
        }

        var root = JsonNode.Parse(Written.Value)!;
        var path = field.Split('.');
        var parent = path[..^1].Aggregate(root, (node, name) => node[name]!).AsObject();
        if (json is null)
        {
            Assert.True(parent.Remove(path[^1]), $"run.json has no {field}");
        }
        else
        {
            Assert.True(parent.ContainsKey(path[^1]), $"run.json has no {field}");
            parent[path[^1]] = JsonNode.Parse(json);
        }

        return root.ToJsonString();
    }

    private static void AssertRefused(CliResult run, string specPath, string mention)
    {
        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}: {run.Stderr}");
        var reason = run.Stderr.Trim();
        Assert.DoesNotContain('\n', reason);
        Assert.StartsWith($"error: {specPath}: ", reason);
        Assert.Contains(mention, reason);
    }
}
