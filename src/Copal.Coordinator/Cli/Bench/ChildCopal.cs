using System.Diagnostics;
using System.Globalization;
using Copal.Coordinator.Cluster;
using Copal.Coordinator.Reporting;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Serilog;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>Runs the `copal` executable that is running now as a child process.</summary>
public static class ChildCopal
{
    /// <summary>A `copal prune` of one stage of <see cref="PerfSettings.Dataset"/> with one evaluation window, as every child run of `copal bench perf` starts; the caller adds the rest.</summary>
    public static List<string> PruneArguments(string modelDir, PruningMethod method, int samples, int seqLen, ComputeOptions compute, int threads) =>
    [
        "prune", "--model", modelDir, "--datasets", PerfSettings.Dataset, "--method", Metrics.NameOf(method),
        "--samples", samples.ToString(CultureInfo.InvariantCulture), "--seqlen", seqLen.ToString(CultureInfo.InvariantCulture),
        "--eval-windows", "1", "--batch-size", compute.BatchSize.ToString(CultureInfo.InvariantCulture),
        "--threads", threads.ToString(CultureInfo.InvariantCulture), "--dtype", PerfCommand.DTypeName(compute.DType),
    ];

    /// <param name="poll">Called with the child's pid every 50 ms while it runs.</param>
    /// <param name="environment">Variables added to this process's environment for the child.</param>
    /// <param name="cpus">The CPUs the child is pinned to (<see cref="CpuPinning"/>); null: any.</param>
    public static void Run(IReadOnlyList<string> args, Action<int>? poll, IReadOnlyDictionary<string, string>? environment = null, string? cpus = null)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this process is unknown");
        var start = CpuPinning.Start(host, cpus);
        start.RedirectStandardOutput = start.RedirectStandardError = true;
        start.UseShellExecute = false;
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.ArgumentList.Add(typeof(ChildCopal).Assembly.Location);
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var stderr = new Queue<string>();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                if (e.Data != null)
                {
                    stderr.Enqueue(e.Data);
                    if (stderr.Count > 20)
                    {
                        stderr.Dequeue();
                    }
                }
            }
        };
        Log.Debug("Running copal {Arguments}", string.Join(' ', args));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        while (!process.WaitForExit(50))
        {
            poll?.Invoke(process.Id);
        }

        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            lock (stderr)
            {
                throw new InvalidOperationException($"copal {string.Join(' ', args)} exited with {process.ExitCode}: {string.Join(" / ", stderr)}");
            }
        }
    }
}
