using static TorchSharp.torch;

namespace Copal.GpuNode;

/// <summary>
/// The torch threads of a node: its share of the machine's cores while the other nodes on it have
/// work, all it may take while it is alone in its pipeline (<see cref="Pipeline.PipelineOccupancy"/>).
/// Nodes on machines of their own have one count for both. The engine's results do not depend on
/// the thread count, so switching changes only the time.
/// </summary>
/// <param name="Shared">Threads while the other nodes have work too.</param>
/// <param name="Alone">Threads while they have none (at least <paramref name="Shared"/>).</param>
public sealed record ThreadShare(int Shared, int Alone)
{
    /// <summary>Runs <paramref name="work"/> on <see cref="Alone"/> threads when <paramref name="alone"/>, else on <see cref="Shared"/>.</summary>
    public T Run<T>(bool alone, Func<T> work)
    {
        if (!alone || Alone <= Shared)
        {
            return work();
        }

        set_num_threads(Alone);
        try
        {
            return work();
        }
        finally
        {
            set_num_threads(Shared);
        }
    }
}
