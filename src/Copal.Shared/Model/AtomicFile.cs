using System.Text.RegularExpressions;

namespace Copal.Model;

/// <summary>
/// Writes go to a temporary sibling that is renamed over the target only when complete, so a
/// crash or an error never leaves a half-written file under the final name; the rename is made
/// durable before the write returns.
/// </summary>
public static partial class AtomicFile
{
    public static string TempPathFor(string path) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "." + Path.GetFileName(path) + ".tmp-" + Environment.ProcessId);

    /// <summary>True for a file name <see cref="TempPathFor"/> gives: when no Copal process is writing, a write cut short by a crash.</summary>
    public static bool IsTempFileName(string name) => TempFileName().IsMatch(name);

    [GeneratedRegex(@"^\..+\.tmp-[0-9]+$")]
    private static partial Regex TempFileName();

    public static void WriteAllText(string path, string text) => WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, f => f.Write(bytes));

    /// <summary>Copies a file under the atomic rule, streamed (config and tokenizer files, accumulator state).</summary>
    public static void Copy(string source, string destination)
    {
        using var from = File.OpenRead(source);
        Write(destination, from.CopyTo);
    }

    private static void Write(string path, Action<FileStream> fill)
    {
        var temp = TempPathFor(path);
        try
        {
            using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                fill(f);
                f.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        DirectorySync.FlushParent(path);
    }
}
