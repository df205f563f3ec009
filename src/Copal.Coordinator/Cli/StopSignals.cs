using System.Runtime.InteropServices;
using Serilog;

namespace Copal.Coordinator.Cli;

/// <summary>
/// SIGTERM or SIGINT during a run: log how to go on, then exit at once with 128 + the signal's
/// number. The run's waits (for nodes, for a micro-batch) do not watch for a stop, and in a cluster
/// the signal shut the ActorSystem down but left the process blocked until --node-timeout; a pod
/// would have been killed at the end of its grace period instead. The journal makes stopping
/// anywhere safe.
/// </summary>
public sealed class StopSignals : IDisposable
{
    private readonly PosixSignalRegistration terminate;
    private readonly PosixSignalRegistration interrupt;

    private StopSignals(string outDir)
    {
        terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => Exit(context, "SIGTERM", 128 + 15, outDir));
        interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => Exit(context, "SIGINT", 128 + 2, outDir));
    }

    /// <summary>Exits on SIGTERM or SIGINT until disposed.</summary>
    public static StopSignals During(string outDir) => new(outDir);

    private static void Exit(PosixSignalContext context, string signal, int code, string outDir)
    {
        context.Cancel = true;
        Log.Warning("Stopping on {Signal:l}; `copal resume {Out:l}` continues the run from its journal", signal, outDir);
        ProcessStop.Exit(code);
    }

    public void Dispose()
    {
        terminate.Dispose();
        interrupt.Dispose();
    }
}
