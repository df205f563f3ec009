using Serilog;

namespace Copal.Coordinator.Cli.Hosting;

/// <summary>
/// Ends the coordinator process at once, and only once, for stops the run's blocking waits (for
/// nodes, for a micro-batch) cannot observe. The journal makes stopping anywhere safe.
/// </summary>
public static class ProcessStop
{
    private static int requested;

    /// <summary>Flushes the log and exits with <paramref name="code"/>; later calls do nothing.</summary>
    public static void Exit(int code)
    {
        if (Interlocked.Exchange(ref requested, 1) == 1)
        {
            return;
        }

        Log.CloseAndFlush();
        // Not on the caller's thread: exiting runs ProcessExit handlers (Akka's shutdown), which may wait for it.
        _ = Task.Run(() => Environment.Exit(code));
    }
}
