using System.Runtime.InteropServices;

namespace Copal.Model;

/// <summary>
/// Makes a directory's entries durable. A rename is a change to its directory, which fsync of the
/// renamed file does not flush: after a power loss a journal line written after the rename could
/// survive while the rename did not. .NET cannot open a directory as a stream on Unix, so this
/// calls libc; on Windows it does nothing.
/// </summary>
public static partial class DirectorySync
{
    private const int EINVAL = 22;

    // O_RDONLY is 0; O_DIRECTORY differs between platforms.
    private static readonly int OpenDirectory = OperatingSystem.IsMacOS() ? 0x100000
        : RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000
        : 0x10000;

    /// <summary>Flushes <paramref name="directory"/>'s entries to disk; an <see cref="IOException"/> naming it if that fails.</summary>
    public static void Flush(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = Open(directory, OpenDirectory);
        if (fd < 0)
        {
            throw Failure(directory, "open");
        }

        try
        {
            // EINVAL: a file system that cannot sync directories (some network and FUSE ones); its renames are as durable as it makes them.
            if (Fsync(fd) != 0 && Marshal.GetLastPInvokeError() != EINVAL)
            {
                throw Failure(directory, "fsync");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Flushes the directory that holds <paramref name="path"/> (after <paramref name="path"/> was renamed into it).</summary>
    public static void FlushParent(string path) => Flush(Path.GetDirectoryName(Path.GetFullPath(path))!);

    private static IOException Failure(string directory, string call)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{directory}: cannot make the directory durable ({call}: {Marshal.GetPInvokeErrorMessage(errno)}, errno {errno})");
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
