namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// The peak resident set of a `copal prune --nodes N` and of each copal-node process it starts
/// (its children, named by their --node-id), sampled from /proc while they run. VmHWM is the
/// kernel's own high-water mark, so the sampling interval loses nothing but the last moments.
/// </summary>
public sealed class NodePeaks
{
    private readonly Dictionary<string, long> nodes = new();

    public long Coordinator { get; private set; }

    /// <summary>Peak RSS by node id.</summary>
    public IReadOnlyDictionary<string, long> Nodes => nodes;

    /// <summary>Reads the peaks of the prune process <paramref name="pid"/> and of its node children.</summary>
    public void Sample(int pid)
    {
        Coordinator = Math.Max(Coordinator, ProcFs.PeakRss(pid));
        foreach (var child in ProcFs.Children(pid))
        {
            if (ProcFs.Argument(child, "--node-id") is { } node)
            {
                nodes[node] = Math.Max(nodes.GetValueOrDefault(node), ProcFs.PeakRss(child));
            }
        }
    }
}
