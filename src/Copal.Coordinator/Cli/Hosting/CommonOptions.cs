using System.CommandLine;
using Copal.Cluster;
using Copal.Observability;
using Serilog.Events;
using TorchSharp;

namespace Copal.Coordinator.Cli.Hosting;

/// <summary>Options several commands share, with their parsing rules.</summary>
public static class CommonOptions
{
    /// <summary>The options that set each checked setting of a run.</summary>
    public static SettingNames Names { get; } = new(
        Sparsity: "--sparsity",
        Pattern: "--pattern",
        Group: "--group",
        Samples: "--samples",
        SeqLen: "--seqlen",
        EvalWindows: "--eval-windows",
        Perturbation: "--perturbation",
        Epsilon: "--epsilon",
        BatchSize: "--batch-size",
        DType: "--dtype");

    public static Option<string> Model() => new("--model") { Description = "Hugging Face LLaMA checkpoint directory (default: the bundled tiny-mix model)", DefaultValueFactory = _ => Bundled.Model };

    public static Option<string?> Datasets(string description) => new("--datasets") { Description = description };

    public static Option<int?> SeqLen() => new("--seqlen") { Description = "sequence length L (default: min(max_position_embeddings, 2048))" };

    public static Option<int?> EvalWindows() => new("--eval-windows") { Description = "evaluate only the first W windows of each test split (quick checks)" };

    public static Option<string?> Report() => new("--report") { Description = "write the JSON report to this file" };

    public static Option<string> DType() => new("--dtype") { Description = "compute dtype: float32 or bfloat16", DefaultValueFactory = _ => "float32" };

    public static Option<int> BatchSize() => new("--batch-size") { Description = "sequences per forward call", DefaultValueFactory = _ => 8 };

    public static Option<int?> Threads() => new("--threads") { Description = "torch intra-op threads (default: all cores)" };

    public static Option<string> ImportancePrecision() => new("--importance-precision")
    {
        Description = "operands of COPAL's importance GEMM: float32 (default) or bfloat16 (faster on CPUs with AMX; moves the goldens' BWT by up to 0.05)",
        DefaultValueFactory = _ => "float32",
    };

    public static Option<LogEventLevel> LogLevel() => new("--log-level")
    {
        Description = $"Verbose, Debug, Information, Warning, Error [env {EnvironmentVariables.LogLevel}]",
        DefaultValueFactory = _ => EnvironmentVariables.Get(EnvironmentVariables.LogLevel) is { } level
            ? LogSetup.ParseLevel(level, EnvironmentVariables.LogLevel)
            : LogEventLevel.Information,
        Recursive = true,
    };

    public static Option<string?> LogFile() => new("--log-file") { Description = "also write JSON log events to this file", Recursive = true };

    public static IReadOnlyList<string> ParseList(string? text, IReadOnlyList<string> fallback, string option)
    {
        if (text == null)
        {
            return fallback;
        }

        var items = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        InputChecks.DistinctNames(items, option);
        return items;
    }

    /// <summary>The --datasets list, or <paramref name="fallback"/>, refusing names that are no dataset's (see <see cref="InputChecks.DatasetNames"/>).</summary>
    public static IReadOnlyList<string> ParseDatasets(string? text, IReadOnlyList<string> fallback)
    {
        var names = ParseList(text, fallback, "--datasets");
        InputChecks.DatasetNames(names, "--datasets");
        return names;
    }

    public static Pruning.ImportancePrecision ParseImportancePrecision(string text) => text switch
    {
        "float32" or "fp32" => Pruning.ImportancePrecision.Float32,
        "bfloat16" or "bf16" => Pruning.ImportancePrecision.BFloat16,
        _ => throw new CopalInputException($"--importance-precision must be float32 or bfloat16, got '{text}'"),
    };

    public static ComputeOptions Compute(string dtype, int batchSize, int? threads)
    {
        var scalar = dtype switch
        {
            "float32" or "fp32" => torch.ScalarType.Float32,
            "bfloat16" or "bf16" => torch.ScalarType.BFloat16,
            _ => throw new CopalInputException($"--dtype must be float32 or bfloat16, got '{dtype}'"),
        };
        var compute = new ComputeOptions { DType = scalar, BatchSize = batchSize };
        compute.Check(Names);
        if (threads is { } t)
        {
            InputChecks.AtLeast(t, 1, "--threads");
        }

        Copal.Nn.TorchRuntime.Configure();
        torch.set_num_threads(threads ?? Environment.ProcessorCount);
        return compute;
    }
}
