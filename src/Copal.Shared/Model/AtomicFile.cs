namespace Copal.Model;

/// <summary>
/// Writes go to a temporary sibling that is renamed over the target only when complete, so a
/// crash or an error never leaves a half-written file under the final name.
/// </summary>
public static class AtomicFile
{
    public static string TempPathFor(string path) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "." + Path.GetFileName(path) + ".tmp-" + Environment.ProcessId);

    public static void WriteAllText(string path, string text) => WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var temp = TempPathFor(path);
        try
        {
            using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                f.Write(bytes);
                f.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Copies a file under the atomic rule (used for config and tokenizer files).</summary>
    public static void Copy(string source, string destination) => WriteAllBytes(destination, File.ReadAllBytes(source));
}
