namespace Copal.Data;

/// <summary>
/// Reports how many bytes of a file have been read: at the start, every <see cref="StepBytes"/>
/// (not every read, which would flood a bar or a log) and once when done.
/// </summary>
internal sealed class ReadProgress
{
    private const long StepBytes = 1 << 20;

    private readonly string task;
    private readonly long total;
    private readonly IProgress<WorkProgress>? progress;
    private long reported;

    private ReadProgress(string task, long total, IProgress<WorkProgress>? progress)
    {
        this.task = task;
        this.total = total;
        this.progress = progress;
    }

    public static ReadProgress Start(string task, long total, IProgress<WorkProgress>? progress)
    {
        progress?.Report(new WorkProgress(task, 0, total));
        return new ReadProgress(task, total, progress);
    }

    /// <summary>Bytes read so far; a format that reads some bytes twice may pass the total, which only <see cref="Finish"/> reports.</summary>
    public void Advance(long done)
    {
        if (done - reported >= StepBytes && done < total)
        {
            reported = done;
            progress?.Report(new WorkProgress(task, done, total));
        }
    }

    public void Finish() => progress?.Report(new WorkProgress(task, total, total));
}
