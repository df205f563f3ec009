namespace Copal.Data;

/// <summary>
/// The text of a split file: its records joined by a blank line in file order, so records kept as
/// JSON lines or Parquet give the same text as the same documents in one .txt file.
/// </summary>
public static class SplitText
{
    public const string RecordSeparator = "\n\n";

    /// <summary>
    /// Reads <paramref name="path"/> as it streams, reporting the bytes read of the file to
    /// <paramref name="progress"/>; bad or empty content is a <see cref="CopalInputException"/> naming the file.
    /// </summary>
    public static string Read(string path, string textField = DataDirectory.DefaultTextField, IProgress<WorkProgress>? progress = null)
    {
        var read = SplitFormats.ReaderOf(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, SplitFormats.BufferBytes, FileOptions.SequentialScan);
        var fileProgress = ReadProgress.Start($"read {Path.GetFileName(path)}", file.Length, progress);
        using var counted = new CountingStream(file, fileProgress.Advance);
        List<string> records;
        try
        {
            records = read(counted, path, textField).ToList();
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw Unreadable(path, e);
        }

        if (records.All(r => r.Length == 0))
        {
            throw new CopalInputException($"{path}: empty split ({records.Count} records, no text)");
        }

        fileProgress.Finish();
        return string.Join(RecordSeparator, records);
    }

    internal static CopalInputException Unreadable(string path, Exception e) => new($"{path}: corrupt or truncated file ({e.Message})", e);

    internal static CopalInputException Unreadable(string path, string why) => new($"{path}: corrupt or truncated file ({why})");
}
