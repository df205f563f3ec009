using System.Buffers.Binary;
using System.IO.Compression;

namespace Copal.Data;

/// <summary>Gzip'd JSON lines, decompressed as they are read.</summary>
internal static class GzipJsonLines
{
    // A gzip member is at least a 10-byte header and an 8-byte trailer (CRC-32, size mod 2^32).
    private const int MinimumBytes = 18;

    public static IEnumerable<string> Read(Stream file, string path, string textField)
    {
        if (file.Length == 0)
        {
            // No records: what GZipStream writes when given no data.
            yield break;
        }

        var recordedSize = RecordedSize(file, path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
        using var decompressed = new CountingStream(gzip);
        using var reader = SplitFormats.OpenText(decompressed);

        string? NextLine()
        {
            var line = reader.ReadLine();
            // GZipStream ends silently where a truncated file ends: only the trailer's size tells.
            if (line == null && (uint)decompressed.BytesRead != recordedSize)
            {
                throw new CopalInputException($"{path}: truncated or corrupt gzip (it decompresses to {decompressed.BytesRead} bytes, its trailer records {recordedSize} mod 2^32; concatenated gzip members are not supported)");
            }

            return line;
        }

        // Damage decompresses to garbage (or a cut line) before the checksum and size at the end
        // tell: read on to the end before blaming a line, so the file is reported as damaged.
        void CheckToEnd()
        {
            while (NextLine() != null)
            {
            }
        }

        foreach (var record in JsonLinesRecords.Parse(JsonLinesRecords.Lines(NextLine), path, textField, CheckToEnd))
        {
            yield return record;
        }
    }

    private static uint RecordedSize(Stream file, string path)
    {
        if (file.Length < MinimumBytes)
        {
            throw new CopalInputException($"{path}: truncated gzip ({file.Length} bytes, less than a gzip header and trailer)");
        }

        Span<byte> size = stackalloc byte[sizeof(uint)];
        file.Seek(-size.Length, SeekOrigin.End);
        file.ReadExactly(size);
        file.Seek(0, SeekOrigin.Begin);
        return BinaryPrimitives.ReadUInt32LittleEndian(size);
    }
}
