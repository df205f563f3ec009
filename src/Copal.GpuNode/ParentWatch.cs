using System.Runtime.InteropServices;
using Copal.Cluster;
using Serilog;

namespace Copal.GpuNode;

/// <summary>
/// Nodes that a coordinator started for itself (`copal prune --nodes N`) must not outlive it: a
/// coordinator killed with SIGKILL cannot stop them, and they would hold memory and ports. The
/// coordinator passes its pid in <see cref="EnvironmentVariables.ParentPid"/>; once this
/// process's parent is another one (it was re-parented: the coordinator is gone), the node stops.
/// </summary>
internal static partial class ParentWatch
{
    public static void Start(Action stop, CancellationToken token)
    {
        if (EnvironmentVariables.Get(EnvironmentVariables.ParentPid) is not { } text || !OperatingSystem.IsLinux())
        {
            return;
        }

        if (!int.TryParse(text, out var parent))
        {
            throw new CopalInputException($"{EnvironmentVariables.ParentPid}={text}: expected a process id");
        }

        _ = Task.Run(
            async () =>
            {
                using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
                while (await timer.WaitForNextTickAsync(token))
                {
                    if (ParentProcessId() != parent)
                    {
                        Log.Warning("The coordinator that started this node (pid {Pid}) is gone; stopping", parent);
                        stop();
                        return;
                    }
                }
            },
            token);
    }

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int ParentProcessId();
}
