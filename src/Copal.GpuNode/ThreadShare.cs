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
    public static ThreadShare Fixed(int threads) => new(threads, threads);

    /// <summary>Takes <see cref="Alone"/> threads until disposed when <paramref name="alone"/>; null otherwise.</summary>
    public IDisposable? While(bool alone)
    {
        if (!alone || Alone <= Shared)
        {
            return null;
        }

        set_num_threads(Alone);
        return new Restore(Shared);
    }

    private sealed class Restore(int threads) : IDisposable
    {
        public void Dispose() => set_num_threads(threads);
    }
}
