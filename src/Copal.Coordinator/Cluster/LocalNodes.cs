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
    private readonly List<Process> processes = new();

    public LocalNodes(int count, string seed, int threads, int aloneThreads, string memory)
    {
        var executable = Path.Combine(AppContext.BaseDirectory, "copal-node.dll");
        if (!File.Exists(executable))
        {
            throw new CopalInputException($"{executable} not found: build src/Copal.GpuNode");
        }

        for (var i = 0; i < count; i++)
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            start.Environment[Copal.Cluster.EnvironmentVariables.ParentPid] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
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

    public IReadOnlyList<Process> Processes => processes;

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
