using System.Runtime.InteropServices;
using Serilog;

namespace Copal.Coordinator.Cli.Hosting;

/// <summary>SIGTERM and SIGINT, taken over from the runtime's default (end the process) until disposed.</summary>
public sealed class StopSignals : IDisposable
{
    private readonly PosixSignalRegistration terminate;
    private readonly PosixSignalRegistration interrupt;

    /// <param name="stop">Called with the signal's name and 128 + its number (the exit code a shell reports for it).</param>
    private StopSignals(Action<string, int> stop)
    {
        terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => Take(context, () => stop("SIGTERM", 128 + 15)));
        interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => Take(context, () => stop("SIGINT", 128 + 2)));
    }

    /// <summary>
    /// During a run: log how to go on, then exit at once with the signal's code. The run's waits
    /// (for nodes, for a micro-batch) do not watch for a stop, and in a cluster the signal shut the
    /// ActorSystem down but left the process blocked until --node-timeout; a pod would have been
    /// killed at the end of its grace period instead. The journal makes stopping anywhere safe.
    /// </summary>
    public static StopSignals ExitDuringRun(string outDir) => new((signal, code) =>
    {
        Log.Warning("Stopping on {Signal:l}; `copal resume {Out:l}` continues the run from its journal", signal, outDir);
        ProcessStop.Exit(code);
    });

    /// <summary>Calls <paramref name="stop"/> on either signal: a lingering process ends its wait and shuts down cleanly.</summary>
    public static StopSignals Calling(Action stop) => new((_, _) => stop());

    private static void Take(PosixSignalContext context, Action stop)
    {
        context.Cancel = true;
        stop();
    }

    public void Dispose()
    {
        terminate.Dispose();
        interrupt.Dispose();
    }
}
