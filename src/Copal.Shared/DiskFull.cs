namespace Copal;

/// <summary>
/// Recognises a write that failed because its file system is full (ENOSPC). Retrying cannot
/// help, so a run stops on it with one line instead of a stack trace.
/// </summary>
public static class DiskFull
{
    /// <summary>ENOSPC: on Unix .NET puts the raw errno in <see cref="Exception.HResult"/>.</summary>
    private const int NoSpaceLeft = 28;

    /// <summary>The error of the OS saying the disk is full (its message names the file), anywhere in <paramref name="error"/>'s chain; null when there is none.</summary>
    public static IOException? Cause(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is IOException { HResult: NoSpaceLeft } full)
            {
                return full;
            }
        }

        return null;
    }

    /// <summary>A full disk another process reported (a node, by message): <see cref="Cause"/> recognises it like the OS's own.</summary>
    public static IOException Reported(string message) => new(message, NoSpaceLeft);
}
