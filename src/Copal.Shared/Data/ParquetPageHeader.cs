namespace Copal.Data;

/// <summary>What a Parquet page header claims, read as Parquet.Net reads it (<see cref="ParquetThrift"/>).</summary>
/// <param name="Type">The page type: <see cref="DataPage"/>, 1 (index), <see cref="DictionaryPage"/> or <see cref="DataPageV2"/>.</param>
/// <param name="HasTypeHeader">Whether the header of its type (data, dictionary, data v2) is there.</param>
/// <param name="Values">The values that header claims.</param>
/// <param name="Nulls">The nulls among them (data v2 only).</param>
/// <param name="DefinitionBytes">The bytes of definition levels before the values (data v2 only).</param>
/// <param name="RepetitionBytes">The bytes of repetition levels before them (data v2 only).</param>
/// <param name="Compressed">The page's bytes in the file.</param>
/// <param name="IsCompressed">Whether the codec applies (a data v2 page may leave its values uncompressed).</param>
/// <param name="HeaderBytes">The length of the header itself.</param>
internal readonly record struct ParquetPageHeader(
    int Type, int Uncompressed, int Compressed, bool HasTypeHeader, int Values, int Nulls, int DefinitionBytes, int RepetitionBytes, bool IsCompressed, int HeaderBytes)
{
    public const int DataPage = 0;
    public const int DictionaryPage = 2;
    public const int DataPageV2 = 3;

    /// <summary>Reads the header at the start of <paramref name="bytes"/>; throws <see cref="InvalidDataException"/> if it does not end within them or is refused.</summary>
    public static ParquetPageHeader Read(ReadOnlySpan<byte> bytes)
    {
        var reader = new ThriftCompactReader(bytes);
        var fields = new Dictionary<(string Struct, short Id), int>();
        ParquetThrift.Read(ref reader, "PageHeader", fields);

        var type = Field("PageHeader", 1);
        var (header, id) = type switch
        {
            DataPage => ("DataPageHeader", (short)5),
            DictionaryPage => ("DictionaryPageHeader", (short)7),
            DataPageV2 => ("DataPageHeaderV2", (short)8),
            _ => ("IndexPageHeader", (short)6),
        };
        var v2 = type == DataPageV2;
        return new(
            type,
            Uncompressed: Field("PageHeader", 2),
            Compressed: Field("PageHeader", 3),
            HasTypeHeader: fields.ContainsKey(("PageHeader", id)),
            Values: Field(header, 1),
            Nulls: v2 ? Field(header, 2) : 0,
            DefinitionBytes: v2 ? Field(header, 5) : 0,
            RepetitionBytes: v2 ? Field(header, 6) : 0,
            IsCompressed: !v2 || Field(header, 7) != ThriftCompactReader.BoolFalse,
            HeaderBytes: reader.Position);

        // Parquet.Net leaves a field that is not there at 0.
        int Field(string name, short field) => fields.GetValueOrDefault((name, field));
    }
}
