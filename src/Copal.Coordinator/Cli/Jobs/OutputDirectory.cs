using Copal.Model;
using Copal.Pruning;
using Copal.Runs;
using Copal.Stages;
using Serilog;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>
/// Output directory rules: never write into someone's non-empty folder unless told to. What only
/// Copal's own interrupted writes leave (temporary files, stage build directories, the run lock)
/// does not count: a coordinator killed before its first rename must be able to start again in
/// its directory.
/// </summary>
public static class OutputDirectory
{
    /// <summary>
    /// Refuses a file, or a non-empty directory without <paramref name="force"/>; creates the
    /// directory, takes its <see cref="RunLock"/> and removes the leftovers. The caller holds the
    /// returned lock while it writes.
    /// </summary>
    public static RunLock Prepare(string path, bool force)
    {
        CheckPath(path);
        if (File.Exists(path))
        {
            throw new CopalInputException($"--out {path}: is a file");
        }

        if (Directory.Exists(path) && Entries(path).Any(e => !IsLeftover(e)) && !force)
        {
            throw new CopalInputException($"--out {path}: directory exists and is not empty (use --force to write into it)");
        }

        try
        {
            Directory.CreateDirectory(path);

            // The journal syncs its own entry in --out; this makes --out's entry in its parent durable too.
            DirectorySync.FlushParent(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CopalInputException($"--out {path}: cannot create it ({e.Message})");
        }

        var runLock = RunLock.Acquire(path);
        // Only under the lock: a run still writing here refuses us above instead of losing its files.
        foreach (var leftover in Entries(path).Where(IsLeftover))
        {
            Log.Information("{Out}: removing {Leftover}, left by an interrupted write", path, leftover.Name);
            if (leftover is DirectoryInfo d)
            {
                d.Delete(recursive: true);
            }
            else
            {
                leftover.Delete();
            }
        }

        return runLock;
    }

    /// <summary>Refuses an --out that names nothing.</summary>
    public static void CheckPath(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new CopalInputException("--out must name a directory");
        }
    }

    /// <summary>What the directory holds, its lock file aside: a run killed before its first write leaves only that.</summary>
    private static IEnumerable<FileSystemInfo> Entries(string path) =>
        new DirectoryInfo(path).EnumerateFileSystemInfos().Where(e => e.Name != RunLock.FileName).ToList();

    private static bool IsLeftover(FileSystemInfo entry) => entry is DirectoryInfo
        ? StageCheckpoint.IsBuildDirectoryName(entry.Name)
        : AtomicFile.IsTempFileName(entry.Name);
}
