using Parquet;
using Parquet.Schema;

namespace Copal.Data;

/// <summary>Parquet: one record per row of a string column, read one row group at a time.</summary>
internal static class ParquetRecords
{
    public static async IAsyncEnumerable<string> Read(Stream file, string path, string textField)
    {
        await using var reader = await Guarded(path, () => ParquetReader.CreateAsync(file, leaveStreamOpen: true));
        var column = TextColumn(reader.Schema, path, textField);
        var row = 0L;
        for (var group = 0; group < reader.RowGroupCount; group++)
        {
            foreach (var value in await Guarded(path, () => ReadRowGroup(reader, group, column)))
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

    private static async Task<string?[]> ReadRowGroup(ParquetReader reader, int index, DataField column)
    {
        using var group = reader.OpenRowGroupReader(index);
        var values = new string?[checked((int)group.RowCount)];
        await group.ReadAsync(column, values.AsMemory(), null);
        return values;
    }

    private static async Task<T> Guarded<T>(string path, Func<Task<T>> work)
    {
        try
        {
            return await work();
        }
        catch (Exception e) when (e is not CopalInputException)
        {
            // A corrupt file makes Parquet.Net throw whatever its decoders meet first (out of range,
            // overflow, invalid operation, Thrift or Parquet errors), not one exception type.
            throw SplitText.Unreadable(path, e);
        }
    }
}
