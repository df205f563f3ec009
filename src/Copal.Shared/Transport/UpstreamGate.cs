using System.Diagnostics;

namespace Copal.Transport;

/// <summary>
/// Which upstream a listener admits: the holder of the ticket of the node's current assignment.
/// A ticket of a later epoch waits a while for that assignment, since an upstream may connect
/// before its downstream has taken its own; an earlier epoch is over and refused at once.
/// </summary>
internal sealed class UpstreamGate
{
    private readonly Lock sync = new();
    private LinkTicket? expected;
    private TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Expect(LinkTicket ticket)
    {
        TaskCompletionSource wake;
        lock (sync)
        {
            expected = ticket;
            wake = changed;
            changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        wake.SetResult();
    }

    /// <summary>Null when the ticket is admitted, else why it is not.</summary>
    public async Task<string?> RefusalAsync(LinkTicket presented, TimeSpan grace, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Task next;
            lock (sync)
            {
                if (expected is { } current && presented.Epoch <= current.Epoch)
                {
                    return presented.Epoch < current.Epoch ? $"its epoch {presented.Epoch} is over (now {current.Epoch})"
                        : current.Admits(presented) ? null
                        : $"it is not the assigned upstream of epoch {current.Epoch}";
                }

                next = changed.Task;
            }

            var remaining = grace - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                return $"no assignment of its epoch {presented.Epoch} arrived within {grace.TotalSeconds:0.#} s";
            }

            try
            {
                await next.WaitAsync(remaining, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Looked at once more above, then refused.
            }
        }
    }
}
