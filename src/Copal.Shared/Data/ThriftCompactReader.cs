namespace Copal.Data;

/// <summary>
/// Reads Thrift compact protocol bytes held in memory, as Parquet stores its footer and page
/// headers: every length and count must fit in the bytes left. Damage is an
/// <see cref="InvalidDataException"/> whose message reads on after the name of what was read
/// ("the footer", "the page header at byte N").
/// </summary>
internal ref struct ThriftCompactReader(ReadOnlySpan<byte> bytes)
{
    // The compact types; a bool field's value is its type.
    public const int BoolTrue = 1;
    public const int BoolFalse = 2;
    public const int I8 = 3;
    public const int I16 = 4;
    public const int I32 = 5;
    public const int I64 = 6;
    public const int F64 = 7;
    public const int Binary = 8;
    public const int List = 9;
    public const int Struct = 12;

    private readonly ReadOnlySpan<byte> bytes = bytes;
    private int at;

    /// <summary>How many bytes have been read.</summary>
    public readonly int Position => at;

    private readonly int Left => bytes.Length - at;

    /// <summary>Reads a struct's next field header: false at the struct's end. <paramref name="id"/> holds the previous field's id, as ids are deltas.</summary>
    public bool NextField(ref short id, out int type)
    {
        var header = Next();
        type = header & 0x0F;
        if (header == 0)
        {
            return false;
        }

        id = header >> 4 == 0 ? (short)I32Value() : (short)(id + (header >> 4));
        return true;
    }

    /// <summary>An i16, i32 or enum: a zigzag varint of at most 32 bits, as Parquet.Net reads it.</summary>
    public int I32Value()
    {
        var raw = Varint();
        return raw is >= 0 and <= uint.MaxValue
            ? (int)((uint)raw >> 1) ^ -(int)(raw & 1)
            : throw new InvalidDataException($"holds an i32 of more than 32 bits at byte {at}");
    }

    /// <summary>Reads a list header: how many elements, each of compact type <paramref name="type"/>, follow.</summary>
    public int ListHeader(out int type)
    {
        var header = Next();
        type = header & 0x0F;
        var count = header >> 4 == 15 ? Count() : header >> 4;

        // Every element takes at least a byte: a count beyond the bytes left is a lie.
        return count <= Left ? count : throw new InvalidDataException($"claims {count} entries with {Left} bytes left");
    }

    /// <summary>Skips a value of a compact type that holds no other values (not a bool, whose value is its field's type).</summary>
    public void Skip(int type)
    {
        switch (type)
        {
            case I8:
                Bytes(1);
                break;
            case I16 or I32 or I64:
                Varint();
                break;
            case F64:
                Bytes(8);
                break;
            case Binary:
                Bytes(Count());
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "not a scalar Thrift type");
        }
    }

    /// <summary>A length or count: a varint that must fit in the bytes left.</summary>
    private int Count()
    {
        var count = Varint();
        return count >= 0 && count <= Left ? (int)count : throw new InvalidDataException($"claims {count} entries or bytes with {Left} left");
    }

    private long Varint()
    {
        long value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = Next();
            value |= (long)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw new InvalidDataException($"holds a varint longer than 10 bytes at byte {at}");
    }

    private void Bytes(long count)
    {
        if (count > Left)
        {
            throw new InvalidDataException($"ends inside a value at byte {at}");
        }

        at += (int)count;
    }

    private byte Next() => at < bytes.Length ? bytes[at++] : throw new InvalidDataException("ends inside a value");
}
