namespace Copal.Coordinator.Cluster;

/// <summary>
/// The CPUs each local node is pinned to (`copal prune --nodes N --node-cpus 0,1`): entry i, a CPU
/// or a range such as 2-3, holds node-i, so nodes on one machine each have cores of their own.
/// </summary>
public sealed record NodeCpus(IReadOnlyList<string> Entries)
{
    /// <summary>Null when <paramref name="text"/> is null (the nodes share every CPU).</summary>
    public static NodeCpus? Parse(string? text, int nodes)
    {
        if (text is null)
        {
            return null;
        }

        var entries = text.Split(',', StringSplitOptions.TrimEntries);
        if (nodes < 1 || entries.Length != nodes || entries.Any(e => e.Length == 0 || CpuPinning.TryExpand(e) is null))
        {
            throw new CopalInputException($"--node-cpus {text}: expected one CPU or range (such as 2-3) per local node, comma-separated, for --nodes {nodes}");
        }

        if (!CpuPinning.Available)
        {
            throw new CopalInputException("--node-cpus pins the nodes with taskset, which is not on the PATH (util-linux, Linux only)");
        }

        return new NodeCpus(entries);
    }

    /// <summary>The CPUs of the entry with the fewest: each pinned node's torch threads unless --node-threads is given.</summary>
    public int Fewest => Entries.Min(e => CpuPinning.TryExpand(e)!.Count);
}
