namespace Copal.Coordinator.Cluster;

/// <summary>
/// The run loop is synchronous; its waits on asynchronous work run on the thread pool so they
/// never need the caller's synchronization context (which a blocked caller could not serve).
/// </summary>
internal static class Blocking
{
    public static T Wait<T>(Func<Task<T>> work) => Task.Run(work).GetAwaiter().GetResult();

    public static void Wait(Func<Task> work) => Task.Run(work).GetAwaiter().GetResult();
}
