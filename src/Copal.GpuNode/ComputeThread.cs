using System.Threading.Channels;

namespace Copal.GpuNode;

/// <summary>
/// Runs an async loop on one dedicated thread: every continuation of the loop comes back to that
/// thread, so the tensor work of a shard never hops between thread-pool threads. Hopping makes
/// each frame allocate from another glibc arena and another thread's kernel buffers, which costs
/// page faults and CPU (docs/performance.md).
/// </summary>
internal sealed class ComputeThread : SynchronizationContext
{
    private readonly Channel<(SendOrPostCallback Callback, object? State)> queue = Channel.CreateUnbounded<(SendOrPostCallback, object?)>(new UnboundedChannelOptions { SingleReader = true });

    private ComputeThread()
    {
    }

    /// <summary>Starts <paramref name="loop"/> on a new thread; the task ends with the loop.</summary>
    public static Task Run(string name, Func<Task> loop)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            var context = new ComputeThread();
            SetSynchronizationContext(context);
            Task task;
            try
            {
                task = loop();
            }
            catch (Exception e)
            {
                task = Task.FromException(e);
            }

            task.ContinueWith(_ => context.queue.Writer.TryComplete(), TaskScheduler.Default);
            context.Drain();
            done.TrySetFromTask(task);
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return done.Task;
    }

    public override void Post(SendOrPostCallback d, object? state) => queue.Writer.TryWrite((d, state));

    public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException("the compute thread only takes posted work");

    public override SynchronizationContext CreateCopy() => this;

    private void Drain()
    {
        var reader = queue.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var item))
            {
                item.Callback(item.State);
            }
        }
    }
}
