using System.Text.Json;
using Copal.Data;
using Copal.Model;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Runs;
using Copal.Tokenization;

namespace Copal.Tests;

/// <summary>Runs the in-process engine on a bundled model (tiny-mix by default) with the settings of a golden run entry.</summary>
public static class PruneRunner
{
    public static readonly string[] GoldenDatasets = ["fiction", "science", "speech"];

    public static PruningSettings SettingsOf(JsonElement run)
    {
        var method = Metrics.Parse(run.GetProperty("metric").GetString()!);
        var strategy = Enum.Parse<Strategy>(run.GetProperty("strategy").GetString()!, ignoreCase: true);
        var propagation = Enum.Parse<Propagation>(run.GetProperty("propagate").GetString()!, ignoreCase: true);
        var group = run.TryGetProperty("group", out var g) ? Enum.Parse<MaskGroup>(g.GetString()!, ignoreCase: true) : Metrics.Describe(method).DefaultGroup;
        var pattern = run.TryGetProperty("nm", out var nm) ? NmPattern.Parse(nm.GetString()!) : null;
        var sparsity = pattern is null ? run.GetProperty("sparsity").GetDouble() : (double)pattern.N / pattern.M;
        return new PruningSettings
        {
            Method = method,
            Strategy = strategy,
            Propagation = propagation,
            Mask = new MaskPolicy(sparsity, group, pattern),
            Samples = run.TryGetProperty("nsamples", out var n) ? n.GetInt32() : 128,
            SeqLen = 256,
            EvalWindows = run.TryGetProperty("eval_windows", out var w) ? w.GetInt32() : null,
        };
    }

    /// <param name="modelDirectory">The model pruned; tiny-mix when null.</param>
    public static PruneRunResult Run(PruningSettings settings, string outDir, IReadOnlyList<string>? datasets = null, string? modelDirectory = null)
    {
        using var model = LlamaModel.Open(modelDirectory ?? RepoPaths.TinyModel);
        var tokenizer = TokenizerFiles.Load(model);
        using var pruner = new ContinualPruner(model, new DataDirectory(RepoPaths.Corpora), tokenizer, settings, ComputeOptions.Default);
        datasets ??= GoldenDatasets;
        pruner.Preflight(datasets);
        return pruner.Run(datasets, outDir);
    }
}
