using System.Buffers.Binary;

namespace Copal.Data;

/// <summary>
/// Checks a Parquet file's footer (Thrift compact protocol) before Parquet.Net decodes it: every
/// list and string it claims must fit in the bytes left, and Parquet.Net must read it as the Thrift
/// it is (<see cref="ParquetThrift"/>). Parquet.Net sizes its lists by the claimed count, so a
/// footer of a few hundred bytes claiming a billion entries would allocate for all of them, and
/// where it misreads a field's type it may read on past the footer's end for ever.
/// </summary>
internal static class ParquetFooter
{
    private static ReadOnlySpan<byte> Magic => "PAR1"u8;

    /// <summary>
    /// Throws <see cref="CopalInputException"/> when the footer is not a sound Thrift structure;
    /// returns where it starts, which is where the pages must end.
    /// </summary>
    public static long Check(Stream file, string path)
    {
        var length = file.Length;
        if (length < 12)
        {
            throw Damaged(path, $"{length} bytes is too short for a Parquet file");
        }

        var tail = new byte[8];
        file.Seek(-8, SeekOrigin.End);
        file.ReadExactly(tail);
        var footerLength = BinaryPrimitives.ReadInt32LittleEndian(tail);
        if (!tail.AsSpan(4).SequenceEqual(Magic) || footerLength <= 0 || footerLength > length - 12)
        {
            throw Damaged(path, $"its footer claims {footerLength} bytes in a file of {length}");
        }

        var footer = new byte[footerLength];
        file.Seek(-8 - footerLength, SeekOrigin.End);
        file.ReadExactly(footer);
        file.Seek(0, SeekOrigin.Begin);
        try
        {
            var reader = new ThriftCompactReader(footer);
            ParquetThrift.Read(ref reader, "FileMetaData");
        }
        catch (InvalidDataException e)
        {
            throw Damaged(path, $"the footer {e.Message}");
        }

        return length - 8 - footerLength;
    }

    private static CopalInputException Damaged(string path, string why) => SplitText.Unreadable(path, why);
}
