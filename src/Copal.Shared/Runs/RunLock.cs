namespace Copal.Runs;

/// <summary>
/// One copal process at a time in a run directory, held from before the run's first write to its
/// end. Two processes writing one journal made a later resume take the other run's checkpoints as
/// its own. An advisory lock (flock, taken by .NET for <see cref="FileShare.None"/>): the kernel
/// drops it when the process dies, so a crashed run never leaves its directory locked.
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".copal.lock";

    private readonly FileStream file;

    private RunLock(FileStream file) => this.file = file;

    /// <summary>Takes the lock of <paramref name="runDirectory"/>, which must exist; an input error if another process holds it.</summary>
    public static RunLock Acquire(string runDirectory)
    {
        var path = Path.Combine(runDirectory, FileName);
        try
        {
            return new RunLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new CopalInputException($"{runDirectory} is in use by another copal process (a prune or resume of it is running); wait for it to end or stop it");
        }
    }

    public void Dispose() => file.Dispose();
}
