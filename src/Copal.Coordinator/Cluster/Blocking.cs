namespace Copal.Coordinator.Cluster;

/// <summary>How the synchronous run loop waits for asynchronous work.</summary>
internal static class Blocking
{
    /// <summary>
    /// Runs <paramref name="work"/> on the thread pool and waits for it, so its awaits never need
    /// the caller's synchronization context (which a blocked caller could not serve).
    /// </summary>
    public static T Wait<T>(Func<Task<T>> work) => Task.Run(work).GetAwaiter().GetResult();

    /// <inheritdoc cref="Wait{T}(Func{Task{T}})"/>
    public static void Wait(Func<Task> work) => Task.Run(work).GetAwaiter().GetResult();

    /// <summary>
    /// Waits for a started task on the calling thread for at most <paramref name="timeout"/>
    /// (a fault counts as completion; the caller observes it). Timer callbacks (Ask timeouts,
    /// CancelAfter) run on the thread pool; a deadline kept here holds even while the pool is starved.
    /// </summary>
    public static bool Completes(Task task, TimeSpan timeout) =>
        Task.WaitAny([task], timeout > TimeSpan.Zero ? timeout : TimeSpan.Zero) == 0;
}
