using System.CommandLine;
using Copal.Coordinator.Cli.Hosting;
using Copal.Data;
using Copal.Pruning;
using Copal.Pruning.Metrics;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>The pruning options shared by `copal prune` and `copal bench`, and their validation.</summary>
public sealed class PruneOptions
{
    public Option<double?> Sparsity { get; } = new("--sparsity") { Description = "fraction of each linear to prune, in (0, 1) (default 0.5)" };

    public Option<string?> Pattern { get; } = new("--pattern") { Description = "N:M semi-structured pattern, e.g. 2:4 or 4:8 (replaces --sparsity)" };

    public Option<string?> Group { get; } = new("--group") { Description = "comparison group: row (default for wanda, copal) or matrix (default for magnitude)" };

    public Option<int> Samples { get; } = new("--samples") { Description = "calibration samples per dataset", DefaultValueFactory = _ => 128 };

    public Option<string?> Propagate { get; } = new("--propagate") { Description = "dense (default for copal) or pruned (default for the baselines)" };

    public Option<string> Sampling { get; } = new("--sampling") { Description = "even (default) or random", DefaultValueFactory = _ => "even" };

    public Option<long> Seed { get; } = new("--seed") { Description = "seed of random sampling and of the gaussian perturbation", DefaultValueFactory = _ => 0 };

    public Option<string> Perturbation { get; } = new("--perturbation") { Description = "COPAL perturbation model: relative (default) or gaussian", DefaultValueFactory = _ => "relative" };

    public Option<double> Epsilon { get; } = new("--epsilon") { Description = "scale E of the gaussian perturbation", DefaultValueFactory = _ => 0.01 };

    public Option<string> ImportancePrecision { get; } = CommonOptions.ImportancePrecision();

    /// <summary>Only for runs that write stages (not in <see cref="All"/>).</summary>
    public Option<string> Store { get; } = new("--store")
    {
        Description = $"what each stage directory holds: full (default), a Hugging Face checkpoint; or masks, a 1-bit keep-mask per linear and a reference to --model, checked by sha256 (copal, wanda, magnitude; sparsegpt stages keep their weights) [env {Copal.Cluster.EnvironmentVariables.Store}]",
        DefaultValueFactory = _ => Copal.Cluster.EnvironmentVariables.Get(Copal.Cluster.EnvironmentVariables.Store) ?? "full",
    };

    public IEnumerable<Option> All => [Sparsity, Pattern, Group, Samples, Propagate, Sampling, Seed, Perturbation, Epsilon, ImportancePrecision];

    public static Strategy ParseStrategy(string text) => text switch
    {
        "copal" => Strategy.Copal,
        "reset" => Strategy.Reset,
        "sequential" => Strategy.Sequential,
        _ => throw new CopalInputException($"unknown strategy '{text}' (copal, reset, sequential)"),
    };

    /// <summary>Builds the settings for one method and strategy, refusing bad values before any work.</summary>
    public PruningSettings Settings(System.CommandLine.ParseResult result, PruningMethod method, Strategy strategy, int seqLen, int? evalWindows)
    {
        var patternText = result.GetValue(Pattern);
        var pattern = patternText is null ? null : NmPattern.Parse(patternText);
        var sparsity = result.GetValue(Sparsity);
        if (pattern != null && sparsity != null)
        {
            throw new CopalInputException("give either --sparsity or --pattern, not both");
        }

        var s = pattern is null ? sparsity ?? 0.5 : (double)pattern.N / pattern.M;
        var groupText = result.GetValue(Group);
        var group = ParseGroup(groupText, method);
        PruningSettings.CheckGroupApplies(pattern, group, groupGiven: groupText != null, CommonOptions.Names);
        var precision = CommonOptions.ParseImportancePrecision(result.GetValue(ImportancePrecision)!);
        var settings = new PruningSettings
        {
            Method = method,
            Strategy = strategy,
            Propagation = ParsePropagation(result.GetValue(Propagate), method),
            Mask = new MaskPolicy(s, group, pattern),
            Samples = result.GetValue(Samples),
            SeqLen = seqLen,
            Sampling = result.GetValue(Sampling) switch
            {
                "even" => SamplingMode.Even,
                "random" => SamplingMode.Random,
                var other => throw new CopalInputException($"--sampling must be even or random, got '{other}'"),
            },
            SamplingSeed = result.GetValue(Seed),
            Perturbation = ParsePerturbation(result),
            EvalWindows = evalWindows,

            // Only COPAL has the GEMM; the other methods' settings keep the default whatever was asked.
            ImportancePrecision = PruningSettings.PrecisionFor(method, precision),
        };
        settings.Check(CommonOptions.Names);
        return settings;
    }

    public static Propagation ParsePropagation(string? text, PruningMethod method) => text switch
    {
        null => Metrics.Describe(method).DefaultPropagation,
        "dense" => Propagation.Dense,
        "pruned" => Propagation.Pruned,
        _ => throw new CopalInputException($"--propagate must be dense or pruned, got '{text}'"),
    };

    private static MaskGroup ParseGroup(string? text, PruningMethod method)
    {
        var metric = Metrics.Describe(method);
        if (metric.DefaultGroup == MaskGroup.ObsBlock && text != null)
        {
            throw new CopalInputException($"--group does not apply to {metric.Name}, which chooses per block of 128 columns by OBS error");
        }

        return text switch
        {
            null => metric.DefaultGroup,
            "row" => MaskGroup.Row,
            "matrix" => MaskGroup.Matrix,
            _ => throw new CopalInputException($"--group must be row or matrix, got '{text}'"),
        };
    }

    private Pruning.Perturbation ParsePerturbation(System.CommandLine.ParseResult result)
    {
        var epsilon = result.GetValue(Epsilon);
        var perturbation = result.GetValue(Perturbation) switch
        {
            "relative" => Pruning.Perturbation.Relative,
            "gaussian" => new Pruning.Perturbation(PerturbationModel.Gaussian, epsilon, result.GetValue(Seed)),
            var other => throw new CopalInputException($"--perturbation must be relative or gaussian, got '{other}'"),
        };

        // Only the command line knows whether --epsilon was typed or is its default.
        PruningSettings.CheckEpsilonApplies(perturbation.Model, epsilon, epsilonGiven: result.GetResult(Epsilon) is { Implicit: false }, CommonOptions.Names);
        return perturbation;
    }
}
