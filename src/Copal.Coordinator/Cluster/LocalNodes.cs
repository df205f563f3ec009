using System.Diagnostics;
using Serilog;

namespace Copal.Coordinator.Cluster;

/// <summary>
/// Real `copal-node` processes on 127.0.0.1, started for `copal prune --nodes N` and killed
/// when the run ends (or, should this process be killed, stopping by themselves: see the node's
/// ParentWatch). Their log lines are passed on to this process's log.
/// </summary>
public sealed class LocalNodes : IDisposable
{
    /// <summary>
    /// glibc malloc for the nodes unless GLIBC_TUNABLES is already set: one arena, blocks up to
    /// 32 MB from the heap and freed memory kept up to 256 MB. A node's compute thread otherwise
    /// allocates from 64 MB side heaps that are handed back to the kernel and faulted in again,
    /// zeroed, for each micro-batch's activations (docs/performance.md). Set before the process
    /// starts, as glibc reads it only then.
    /// </summary>
    public const string MallocTunables = "glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456";

    private readonly List<Process> processes = new();

    /// <param name="cpus">The CPUs each node is pinned to; null: anywhere.</param>
    public LocalNodes(int count, string seed, int threads, int aloneThreads, string memory, NodeCpus? cpus)
    {
        var executable = Path.Combine(AppContext.BaseDirectory, "copal-node.dll");
        if (!File.Exists(executable))
        {
            throw new CopalInputException($"{executable} not found: build src/Copal.GpuNode");
        }

        for (var i = 0; i < count; i++)
        {
            var start = WithNodeEnvironment(CpuPinning.Start("dotnet", cpus?.Entries[i]));
            start.RedirectStandardError = start.RedirectStandardOutput = true;
            start.UseShellExecute = false;
            foreach (var a in new[] { executable, "--seeds", seed, "--host", "127.0.0.1", "--port", "0", "--data-port", "0", "--threads", threads.ToString(), "--alone-threads", aloneThreads.ToString(), "--memory", memory, "--node-id", $"node-{i}", "--log-level", Log.IsEnabled(Serilog.Events.LogEventLevel.Debug) ? "Debug" : "Information" })
            {
                start.ArgumentList.Add(a);
            }

            var process = Process.Start(start) ?? throw new InvalidOperationException("could not start copal-node");
            var name = $"node-{i}";
            process.ErrorDataReceived += (_, e) => Forward(name, e.Data);
            process.OutputDataReceived += (_, e) => Forward(name, e.Data);
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            processes.Add(process);
        }
    }

    /// <summary>The environment a local node starts with: this process's, its pid (see ParentWatch) and the malloc settings.</summary>
    public static ProcessStartInfo WithNodeEnvironment(ProcessStartInfo start)
    {
        start.Environment[Copal.Cluster.EnvironmentVariables.ParentPid] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment.TryAdd("GLIBC_TUNABLES", MallocTunables);
        return start;
    }

    private static void Forward(string node, string? line)
    {
        if (!string.IsNullOrWhiteSpace(line))
        {
            Log.Debug("[{Node}] {Line}", node, line);
        }
    }

    public void Dispose()
    {
        foreach (var p in processes)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill(entireProcessTree: true);
                    p.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            p.Dispose();
        }
    }
}
