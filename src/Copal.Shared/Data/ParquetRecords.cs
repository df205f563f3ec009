using Parquet;
using Parquet.Schema;

namespace Copal.Data;

/// <summary>Parquet: one record per row of a string column, read one row group at a time.</summary>
internal static class ParquetRecords
{
    // Deflate's limit (1032:1): text compressed further than that is a bomb, not a dataset.
    private const long MaxExpansion = 1032;

    public static async IAsyncEnumerable<string> Read(Stream file, string path, string textField)
    {
        var pagesEnd = ParquetFooter.Check(file, path);
        await using var fenced = new FencedStream(file);
        await using var reader = await Guarded(path, () => ParquetReader.CreateAsync(fenced, leaveStreamOpen: true));

        // The schema is decoded when first asked for: damage to it surfaces here.
        var column = TextColumn(await Guarded(path, () => Task.FromResult(reader.Schema)), path, textField);
        var row = 0L;
        for (var group = 0; group < reader.RowGroupCount; group++)
        {
            foreach (var value in await Guarded(path, () => ReadRowGroup(reader, group, column, path, fenced, pagesEnd)))
            {
                row++;
                if (value is null)
                {
                    throw new CopalInputException($"{path}: column '{textField}' is null in row {row}");
                }

                yield return value;
            }
        }
    }

    private static DataField TextColumn(ParquetSchema schema, string path, string textField)
    {
        var column = schema.Fields.FirstOrDefault(f => f.Name == textField)
            ?? throw new CopalInputException($"{path}: no column '{textField}' (columns: {string.Join(", ", schema.Fields.Select(f => f.Name))})");
        return column is DataField { IsArray: false } data && (data.ClrType == typeof(string) || data.ClrType == typeof(ReadOnlyMemory<char>))
            ? data
            : throw new CopalInputException($"{path}: column '{textField}' holds {(column is DataField d ? d.ClrType.Name : column.SchemaType.ToString())}, not strings");
    }

    private static async Task<string?[]> ReadRowGroup(ParquetReader reader, int index, DataField column, string path, FencedStream file, long pagesEnd)
    {
        using var group = reader.OpenRowGroupReader(index);

        // Sizes the file claims are checked before anything is allocated for them: each row's text
        // (never null) takes at least a byte, and no codec expands a byte into more than MaxExpansion.
        var fileBytes = file.Length;
        var chunk = group.GetMetadata(column);
        if (group.RowCount > fileBytes || group.RowCount < 0 || chunk?.MetaData is null || chunk.MetaData.TotalUncompressedSize > MaxExpansion * fileBytes)
        {
            throw new CopalInputException($"{path}: row group {index} claims {group.RowCount} rows of {chunk?.MetaData?.TotalUncompressedSize} bytes in a file of {fileBytes} bytes");
        }

        // So are the pages, and Parquet.Net reads no further than they were checked.
        file.End = pagesEnd;
        file.End = ParquetPages.Check(file, path, index, chunk, group.RowCount, pagesEnd, MaxExpansion * fileBytes);
        var values = new string?[group.RowCount];
        await group.ReadAsync(column, values.AsMemory(), null);
        return values;
    }

    private static async Task<T> Guarded<T>(string path, Func<Task<T>> work)
    {
        try
        {
            return await work();
        }
        catch (Exception e) when (e is not (CopalInputException or OutOfMemoryException))
        {
            // A corrupt file makes Parquet.Net throw whatever its decoders meet first (out of range,
            // overflow, invalid operation, Thrift or Parquet errors), not one exception type.
            throw SplitText.Unreadable(path, e);
        }
    }
}
