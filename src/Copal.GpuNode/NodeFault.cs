using System.Diagnostics;
using System.Globalization;
using Copal.Cluster;
using Serilog;

namespace Copal.GpuNode;

/// <summary>The points of a stage where <see cref="NodeFault"/> can kill a node.</summary>
public enum NodePhase
{
    /// <summary>A stage's first calibration frame arrives.</summary>
    Calibration,

    /// <summary>A stage's calibration has ended; its layers are about to be pruned.</summary>
    Pruning,

    /// <summary>The shard is written, not yet reported.</summary>
    Writing,

    /// <summary>An evaluation pass begins.</summary>
    Evaluation,
}

/// <summary>
/// Fault injection for the chaos tests (<see cref="EnvironmentVariables.FaultKill"/>): a node
/// named there SIGKILLs itself the N-th time it enters the phase, as a crash would take it, so a
/// test can lose a node in each phase of a stage without racing it from outside.
/// </summary>
internal static class NodeFault
{
    private static readonly Lazy<IReadOnlyList<(string Node, NodePhase Phase, int Count)>> Kills = new(() => Parse(EnvironmentVariables.Get(EnvironmentVariables.FaultKill)));
    private static readonly Dictionary<NodePhase, int> Entered = new();

    public static void Enter(string nodeId, NodePhase phase)
    {
        if (Kills.Value.Count == 0)
        {
            return;
        }

        int count;
        lock (Entered)
        {
            count = Entered[phase] = Entered.GetValueOrDefault(phase) + 1;
        }

        if (Kills.Value.Contains((nodeId, phase, count)))
        {
            Log.Warning("Fault injection ({Variable:l}): {Node} kills itself entering {Phase} for the {Count}. time", EnvironmentVariables.FaultKill, nodeId, phase, count);
            Log.CloseAndFlush();
            Process.GetCurrentProcess().Kill();
        }
    }

    private static IReadOnlyList<(string, NodePhase, int)> Parse(string? value)
    {
        if (value is null)
        {
            return [];
        }

        return value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(kill =>
            kill.Split(':') is [var node, var phase, var n]
                && Enum.TryParse<NodePhase>(phase, ignoreCase: true, out var p)
                && int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count > 0
                ? (node, p, count)
                : throw new CopalInputException($"{EnvironmentVariables.FaultKill}={value}: expected NODE:PHASE:N with PHASE one of calibration, pruning, writing, evaluation")).ToList();
    }
}
