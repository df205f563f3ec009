namespace Copal.Coordinator.Cli.Hosting;

/// <summary>The up-front check of a file a command will write (a report, the log), so that a bad path is refused before any work.</summary>
public static class WritableFile
{
    /// <summary>Refuses a <paramref name="path"/> given as <paramref name="option"/> that cannot be written: a directory, or in a folder that is missing or read-only.</summary>
    public static void Check(string? path, string option)
    {
        if (path == null)
        {
            return;
        }

        if (Directory.Exists(path))
        {
            throw new CopalInputException($"{option} {path}: is a directory");
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder))
        {
            throw new CopalInputException($"{option} {path}: folder {folder} does not exist");
        }

        // Permissions, read-only mounts and ACLs are only known by trying: create a file in the folder, as the write will.
        try
        {
            using var probe = new FileStream(Path.Combine(folder, $".copal-write-check-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new CopalInputException($"{option} {path}: cannot write in {folder} ({e.Message})", e);
        }
    }
}
