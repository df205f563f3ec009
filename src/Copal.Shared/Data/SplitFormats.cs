using System.Text;

namespace Copal.Data;

/// <summary>Reads the records of one split file, in file order, from its opened stream.</summary>
internal delegate IEnumerable<string> RecordReader(Stream file, string path, string textField);

/// <summary>The file formats a split may be stored in, known by the file's extension.</summary>
public static class SplitFormats
{
    /// <summary>The read buffer of a split file and of its text decoder.</summary>
    internal const int BufferBytes = 1 << 16;

    private static readonly (string Extension, RecordReader Read)[] Formats =
    [
        ("txt", WholeFile),
        ("jsonl", JsonLinesRecords.Read),
        ("jsonl.gz", GzipJsonLines.Read),
        ("json.gz", GzipJsonLines.Read),
        ("parquet", (file, path, textField) => ParquetRecords.Read(file, path, textField).ToBlockingEnumerable()),
    ];

    /// <summary>The extensions a split file may have, without the leading dot.</summary>
    public static IReadOnlyList<string> Extensions { get; } = Formats.Select(f => f.Extension).ToArray();

    internal static RecordReader ReaderOf(string path)
    {
        foreach (var (extension, read) in Formats)
        {
            if (path.EndsWith("." + extension, StringComparison.Ordinal))
            {
                return read;
            }
        }

        throw new CopalInputException($"{path}: not a split file (extensions: {string.Join(", ", Extensions)})");
    }

    /// <summary>Decodes text as File.ReadAllText does (UTF-8 unless a byte order mark says otherwise), so a .txt split reads as it always did.</summary>
    internal static StreamReader OpenText(Stream stream) =>
        new(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, BufferBytes, leaveOpen: true);

    /// <summary>A .txt file is one record: the whole file.</summary>
    private static IEnumerable<string> WholeFile(Stream file, string path, string textField)
    {
        using var reader = OpenText(file);
        yield return reader.ReadToEnd();
    }
}
