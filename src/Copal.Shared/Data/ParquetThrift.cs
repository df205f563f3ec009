using static Copal.Data.ThriftCompactReader;

namespace Copal.Data;

/// <summary>
/// Parquet's Thrift structures as Parquet.Net 6.1 reads them (<c>Parquet.Meta.*.Read</c>), and a
/// reader that accepts bytes only where Parquet.Net reads them as the Thrift they are. Parquet.Net
/// reads a known field by the type it declares whatever type the bytes give, so damage makes it read
/// a list, string or struct out of other bytes, and at the end of the footer it takes ReadByte's -1
/// for a varint's continuation and loops for ever. It reads a list's elements by the declared type
/// whatever the list says, skips an unknown struct by its field headers alone and an unknown list's
/// bools as no bytes. Where any of that would happen, the bytes are refused.
/// </summary>
internal static class ParquetThrift
{
    private const int MaxDepth = 64;

    // Each struct, with its fields by id and the type Parquet.Net reads them as: bool, byte, i16,
    // i32 (enums too), i64, double, binary (strings too), list<T>, or a struct's name.
    private const string Schema = """
        FileMetaData: 1 i32, 2 list<SchemaElement>, 3 i64, 4 list<RowGroup>, 5 list<KeyValue>, 6 binary, 7 list<ColumnOrder>, 8 EncryptionAlgorithm, 9 binary
        SchemaElement: 1 i32, 2 i32, 3 i32, 4 binary, 5 i32, 6 i32, 7 i32, 8 i32, 9 i32, 10 LogicalType
        LogicalType: 1 Empty, 2 Empty, 3 Empty, 4 Empty, 5 DecimalType, 6 Empty, 7 TimeType, 8 TimestampType, 10 IntType, 11 Empty, 12 Empty, 13 Empty, 14 Empty, 15 Empty, 16 VariantType, 17 GeometryType, 18 GeographyType
        DecimalType: 1 i32, 2 i32
        TimeType: 1 bool, 2 TimeUnit
        TimestampType: 1 bool, 2 TimeUnit
        TimeUnit: 1 Empty, 2 Empty, 3 Empty
        IntType: 1 byte, 2 bool
        VariantType: 1 byte
        GeometryType: 1 binary
        GeographyType: 1 binary, 2 i32
        RowGroup: 1 list<ColumnChunk>, 2 i64, 3 i64, 4 list<SortingColumn>, 5 i64, 6 i64, 7 i16
        SortingColumn: 1 i32, 2 bool, 3 bool
        ColumnChunk: 1 binary, 2 i64, 3 ColumnMetaData, 4 i64, 5 i32, 6 i64, 7 i32, 8 ColumnCryptoMetaData, 9 binary
        ColumnMetaData: 1 i32, 2 list<i32>, 3 list<binary>, 4 i32, 5 i64, 6 i64, 7 i64, 8 list<KeyValue>, 9 i64, 10 i64, 11 i64, 12 Statistics, 13 list<PageEncodingStats>, 14 i64, 15 i32, 16 SizeStatistics, 17 GeospatialStatistics
        Statistics: 1 binary, 2 binary, 3 i64, 4 i64, 5 binary, 6 binary, 7 bool, 8 bool
        PageEncodingStats: 1 i32, 2 i32, 3 i32
        SizeStatistics: 1 i64, 2 list<i64>, 3 list<i64>
        GeospatialStatistics: 1 BoundingBox, 2 list<i32>
        BoundingBox: 1 double, 2 double, 3 double, 4 double, 5 double, 6 double, 7 double, 8 double
        ColumnCryptoMetaData: 1 Empty, 2 EncryptionWithColumnKey
        EncryptionWithColumnKey: 1 list<binary>, 2 binary
        KeyValue: 1 binary, 2 binary
        ColumnOrder: 1 Empty
        EncryptionAlgorithm: 1 AesGcmV1, 2 AesGcmCtrV1
        AesGcmV1: 1 binary, 2 binary, 3 bool
        AesGcmCtrV1: 1 binary, 2 binary, 3 bool
        PageHeader: 1 i32, 2 i32, 3 i32, 4 i32, 5 DataPageHeader, 6 Empty, 7 DictionaryPageHeader, 8 DataPageHeaderV2
        DataPageHeader: 1 i32, 2 i32, 3 i32, 4 i32, 5 Statistics
        DictionaryPageHeader: 1 i32, 2 i32, 3 bool
        DataPageHeaderV2: 1 i32, 2 i32, 3 i32, 4 i32, 5 i32, 6 i32, 7 bool, 8 Statistics
        Empty:
        """;

    private static readonly Dictionary<string, Dictionary<short, FieldType>> Structs = Parse(Schema);

    /// <summary>
    /// Reads struct <paramref name="name"/> as Parquet.Net does, or throws <see cref="InvalidDataException"/>.
    /// With <paramref name="fields"/>, records each field it holds by (struct, id), with an i32's or a
    /// bool's value (its compact type), and refuses a field given twice (Parquet.Net keeps the last, without what the first had).
    /// </summary>
    public static void Read(ref ThriftCompactReader reader, string name, Dictionary<(string Struct, short Id), int>? fields = null) =>
        ReadStruct(ref reader, name, fields, 0);

    private static void ReadStruct(ref ThriftCompactReader reader, string name, Dictionary<(string, short), int>? fields, int depth)
    {
        var known = Structs[name];
        short id = 0;
        while (reader.NextField(ref id, out var wire))
        {
            if (!known.TryGetValue(id, out var declared))
            {
                SkipUnknown(ref reader, wire, depth);
            }
            else if (fields is not null && !fields.TryAdd((name, id), 0))
            {
                throw new InvalidDataException($"holds field {id} of {name} twice, at byte {reader.Position}");
            }
            else if (wire != declared.Compact && !(declared.Compact == BoolTrue && wire == BoolFalse))
            {
                throw new InvalidDataException($"holds field {id} of {name} as Thrift type {wire}, not {declared.Compact}, at byte {reader.Position}");
            }
            else if (declared.Compact is I16 or I32 or BoolTrue)
            {
                // A bool is kept as its type: 1 true, 2 false.
                var value = declared.Compact == BoolTrue ? wire : reader.I32Value();
                if (fields is not null)
                {
                    fields[(name, id)] = value;
                }
            }
            else
            {
                ReadValue(ref reader, declared, fields, depth);
            }
        }
    }

    private static void ReadValue(ref ThriftCompactReader reader, FieldType declared, Dictionary<(string, short), int>? fields, int depth)
    {
        switch (declared.Compact)
        {
            case Struct:
                ReadStruct(ref reader, declared.Struct!, fields, depth + 1);
                break;
            case List:
                var element = declared.Element!;
                var count = reader.ListHeader(out var wire);
                if (count > 0 && wire != element.Compact)
                {
                    throw new InvalidDataException($"holds a list of Thrift type {wire}, not {element.Compact}, at byte {reader.Position}");
                }

                for (var i = 0; i < count; i++)
                {
                    if (element.Compact is I16 or I32)
                    {
                        reader.I32Value();
                    }
                    else
                    {
                        ReadValue(ref reader, element, null, depth + 1);
                    }
                }

                break;
            default:
                reader.Skip(declared.Compact);
                break;
        }
    }

    /// <summary>Skips a field Parquet.Net does not know, where it skips the same bytes as the Thrift they are.</summary>
    private static void SkipUnknown(ref ThriftCompactReader reader, int wire, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new InvalidDataException($"nests deeper than {MaxDepth}");
        }

        switch (wire)
        {
            case BoolTrue or BoolFalse:
                break;
            case I8 or I16 or I32 or I64 or F64 or Binary:
                reader.Skip(wire);
                break;
            case List:
                var count = reader.ListHeader(out var element);
                if (count > 0 && element is BoolTrue or BoolFalse)
                {
                    throw new InvalidDataException($"holds an unknown list of bools at byte {reader.Position}, which Parquet.Net would skip as no bytes");
                }

                for (var i = 0; i < count; i++)
                {
                    SkipUnknown(ref reader, element, depth + 1);
                }

                break;
            case Struct:
                // Parquet.Net reads only the field headers, which is right only where every field is a bool.
                short id = 0;
                while (reader.NextField(ref id, out var type))
                {
                    if (type is not (BoolTrue or BoolFalse))
                    {
                        throw new InvalidDataException($"holds an unknown struct with a field of Thrift type {type} at byte {reader.Position}, which Parquet.Net would skip wrongly");
                    }
                }

                break;
            default:
                throw new InvalidDataException($"holds an unknown field of Thrift type {wire} at byte {reader.Position}, which Parquet.Net cannot skip");
        }
    }

    private static Dictionary<string, Dictionary<short, FieldType>> Parse(string schema)
    {
        var structs = new Dictionary<string, Dictionary<short, FieldType>>();
        foreach (var line in schema.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (name, fields) = (line[..line.IndexOf(':', StringComparison.Ordinal)], line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..]);
            structs[name] = fields.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(f => f.Split(' '))
                .ToDictionary(f => short.Parse(f[0], System.Globalization.CultureInfo.InvariantCulture), f => TypeOf(f[1]));
        }

        // A struct named but not described would only fail on the first file that holds it.
        var missing = structs.Values.SelectMany(f => f.Values).Select(t => t.Element ?? t).Where(t => t.Struct is not null && !structs.ContainsKey(t.Struct));
        return missing.FirstOrDefault() is { } type ? throw new InvalidOperationException($"Parquet schema names {type.Struct} without describing it") : structs;
    }

    private static FieldType TypeOf(string name) => name switch
    {
        "bool" => new(BoolTrue),
        "byte" => new(I8),
        "i16" => new(I16),
        "i32" => new(I32),
        "i64" => new(I64),
        "double" => new(F64),
        "binary" => new(Binary),
        _ when name.StartsWith("list<", StringComparison.Ordinal) => new(List, Element: TypeOf(name[5..^1])),
        _ => new(Struct, Struct: name),
    };

    /// <summary>A field's declared type: its compact type, and the struct or the list's elements.</summary>
    private sealed record FieldType(int Compact, string? Struct = null, FieldType? Element = null);
}
