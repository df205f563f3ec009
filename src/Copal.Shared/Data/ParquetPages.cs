using Parquet.Meta;
using Snappier;
using ZstdSharp;

namespace Copal.Data;

/// <summary>
/// Walks the pages of one column chunk before Parquet.Net reads it, the way Parquet.Net will: from
/// the first page, an optional dictionary page and then data pages until their values add up to
/// the chunk's. Parquet.Net trusts what a page header claims: it allocates and decompresses into
/// the claimed sizes, sizes arrays by the claimed value counts, and reads the next header wherever
/// the last page claimed to end. So every page must lie before the footer, expand within the file's
/// budget and claim no more values than the chunk has left; its header is read as Parquet.Net reads
/// it (<see cref="ParquetThrift"/>), so the header it decodes is the one checked here.
/// </summary>
internal static class ParquetPages
{
    // Page headers are small (sizes, counts, optional min/max values): read a little, more if needed.
    private const int FirstWindow = 4 << 10;
    private const int MaxHeaderBytes = 16 << 20;

    /// <summary>
    /// Throws <see cref="CopalInputException"/> naming <paramref name="path"/> and the row group when
    /// the chunk's pages are not sound; returns where they end, past which Parquet.Net has no reason to read.
    /// </summary>
    /// <param name="pagesEnd">Where the footer starts.</param>
    /// <param name="maxExpanded">How many bytes the chunk's pages may decompress to in all.</param>
    public static long Check(Stream file, string path, int group, ColumnChunk chunk, long rows, long pagesEnd, long maxExpanded)
    {
        try
        {
            return Walk(file, chunk, rows, pagesEnd, maxExpanded);
        }
        catch (InvalidDataException e)
        {
            throw SplitText.Unreadable(path, $"row group {group}: {e.Message}");
        }
    }

    private static long Walk(Stream file, ColumnChunk chunk, long rows, long pagesEnd, long maxExpanded)
    {
        var meta = chunk.MetaData ?? throw new InvalidDataException("the column chunk has no metadata");
        if (chunk.CryptoMetadata is not null)
        {
            throw new InvalidDataException("the column is encrypted");
        }

        // A flat column holds a value (or a null) per row; Parquet.Net sizes its arrays by both counts.
        if (meta.NumValues != rows || meta.Statistics?.NullCount is < 0 || meta.Statistics?.NullCount > rows)
        {
            throw new InvalidDataException($"the column chunk claims {meta.NumValues} values ({meta.Statistics?.NullCount} null) in {rows} rows");
        }

        if (rows == 0)
        {
            return pagesEnd; // Parquet.Net reads no page.
        }

        // Parquet.Net starts at the first of the offsets given (not 0): the dictionary, data or index page.
        var at = new[] { meta.DictionaryPageOffset ?? 0, meta.DataPageOffset, meta.IndexPageOffset ?? 0 }.Where(o => o != 0).DefaultIfEmpty().Min();
        if (at < 4 || at >= pagesEnd || meta.TotalCompressedSize < 0 || meta.TotalCompressedSize > pagesEnd - at)
        {
            throw new InvalidDataException($"the column chunk claims {meta.TotalCompressedSize} bytes from byte {at}, outside the pages (bytes 4 to {pagesEnd})");
        }

        var values = 0L;
        var expanded = 0L;
        for (var first = true; values < rows; first = false)
        {
            var page = ReadHeader(file, at, pagesEnd);
            var body = at + page.HeaderBytes;
            if (page.Compressed < 0 || page.Compressed > pagesEnd - body || page.Uncompressed < 0 || page.Uncompressed > maxExpanded - expanded)
            {
                throw new InvalidDataException($"the page at byte {at} claims {page.Compressed} bytes ({page.Uncompressed} uncompressed) with {pagesEnd - body} left before the footer and {maxExpanded - expanded} of the file's budget");
            }

            var isData = page.Type is ParquetPageHeader.DataPage or ParquetPageHeader.DataPageV2;
            if (!page.HasTypeHeader || !(isData || (first && page.Type == ParquetPageHeader.DictionaryPage)))
            {
                throw new InvalidDataException($"the page at byte {at} is of type {page.Type}{(page.HasTypeHeader ? "" : " without its header")}, where {(first ? "a dictionary or " : "")}a data page belongs");
            }

            // A data page's values are bounded by the chunk's; a dictionary's by its bytes (each plain
            // string takes at least its 4-byte length), and data pages may index the same entry any number of times.
            var left = isData ? rows - values : Math.Max(page.Compressed, page.Uncompressed) / 4;
            if (page.Values < 0 || page.Values > left || page.Nulls < 0 || page.Nulls > page.Values)
            {
                throw new InvalidDataException($"the page at byte {at} claims {page.Values} values ({page.Nulls} null) where at most {left} fit");
            }

            // Data page v2: the levels come first, uncompressed, and the rest is decompressed on its own.
            if (page.DefinitionBytes < 0 || page.RepetitionBytes < 0 || (long)page.DefinitionBytes + page.RepetitionBytes > Math.Min(page.Compressed, page.Uncompressed))
            {
                throw new InvalidDataException($"the page at byte {at} claims {page.DefinitionBytes} + {page.RepetitionBytes} bytes of levels in {page.Compressed} ({page.Uncompressed} uncompressed)");
            }

            // Snappy and zstd size their output by what the compressed bytes claim, not by the page header.
            var levels = page.DefinitionBytes + page.RepetitionBytes;
            var claimed = page.IsCompressed && meta.Codec is CompressionCodec.SNAPPY or CompressionCodec.ZSTD
                ? CodecClaim(file, meta.Codec, body + levels, page.Compressed - levels)
                : 0;
            if (claimed > Math.Max(page.Uncompressed - levels, 0))
            {
                throw new InvalidDataException($"the page at byte {at} holds {meta.Codec} data claiming {claimed} bytes where its header claims {page.Uncompressed}");
            }

            values += isData ? page.Values : 0;
            expanded += page.Uncompressed;
            at = body + page.Compressed;
        }

        return at;
    }

    /// <summary>How many bytes the codec's own header claims the data expands to, as Parquet.Net's codecs read it.</summary>
    private static long CodecClaim(Stream file, CompressionCodec codec, long at, int length)
    {
        // A Snappy block starts with its length, a varint of at most 5 bytes; zstd's bound needs every frame.
        var bytes = new byte[codec == CompressionCodec.SNAPPY ? Math.Min(length, 16) : length];
        file.Seek(at, SeekOrigin.Begin);
        file.ReadExactly(bytes);
        try
        {
            return codec == CompressionCodec.SNAPPY
                ? (uint)Snappy.GetUncompressedLength(bytes)
                : (long)Math.Min(Decompressor.GetDecompressedSize(bytes), long.MaxValue);
        }
        catch (Exception e) when (e is InvalidDataException or ZstdException or ArgumentException)
        {
            throw new InvalidDataException($"the page data at byte {at} is not {codec} ({e.Message})", e);
        }
    }

    private static ParquetPageHeader ReadHeader(Stream file, long at, long pagesEnd)
    {
        var limit = (int)Math.Min(MaxHeaderBytes, pagesEnd - at);
        for (var window = Math.Min(FirstWindow, limit); ; window = (int)Math.Min(2L * window, limit))
        {
            var bytes = new byte[window];
            file.Seek(at, SeekOrigin.Begin);
            file.ReadExactly(bytes);
            try
            {
                return ParquetPageHeader.Read(bytes);
            }
            catch (InvalidDataException) when (window < limit)
            {
                // Perhaps only cut off by the window: read more.
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"the page header at byte {at} {e.Message}", e);
            }
        }
    }
}
