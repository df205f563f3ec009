using System.Buffers.Binary;

namespace Copal.Data;

/// <summary>
/// Checks a Parquet file's footer (Thrift compact protocol) before Parquet.Net decodes it: every
/// list, set, map and string it claims must fit in the bytes left, and structures nest at most
/// <see cref="MaxDepth"/> deep. Parquet.Net sizes its lists by the claimed count, so a footer of
/// a few hundred bytes claiming a billion entries would allocate for all of them.
/// </summary>
internal static class ParquetFooter
{
    private const int MaxDepth = 64;
    private static ReadOnlySpan<byte> Magic => "PAR1"u8;

    /// <summary>Throws <see cref="CopalInputException"/> when the footer is not a sound Thrift structure.</summary>
    public static void Check(Stream file, string path)
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
            var reader = new Reader(footer);
            reader.Struct(0);
        }
        catch (InvalidDataException e)
        {
            throw Damaged(path, e.Message);
        }
    }

    private static CopalInputException Damaged(string path, string why) => SplitText.Unreadable(path, why);

    private ref struct Reader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> bytes = bytes;
        private int at;

        private readonly int Left => bytes.Length - at;

        public void Struct(int depth)
        {
            if (depth > MaxDepth)
            {
                throw new InvalidDataException($"the footer nests deeper than {MaxDepth}");
            }

            while (Byte() is var header and not 0)
            {
                if (header >> 4 == 0)
                {
                    Varint(); // A field id of its own (the delta did not fit).
                }

                Value(header & 0x0F, depth);
            }
        }

        private void Value(int type, int depth)
        {
            switch (type)
            {
                case 1 or 2: // A bool in a field: the type is the value.
                    break;
                case 3:
                    Byte();
                    break;
                case 4 or 5 or 6:
                    Varint();
                    break;
                case 7:
                    Skip(8);
                    break;
                case 8:
                    Skip(Count());
                    break;
                case 9 or 10:
                    var header = Byte();
                    var size = header >> 4 == 15 ? Count() : header >> 4;
                    Elements(size, header & 0x0F, depth);
                    break;
                case 11:
                    var entries = Count();
                    if (entries > 0)
                    {
                        var types = Byte();
                        Elements(entries, types >> 4, depth);
                        Elements(entries, types & 0x0F, depth);
                    }

                    break;
                case 12:
                    Struct(depth + 1);
                    break;
                default:
                    throw new InvalidDataException($"the footer holds an unknown Thrift type {type} at byte {at}");
            }
        }

        private void Elements(long count, int type, int depth)
        {
            // Every element takes at least a byte: a count beyond the bytes left is a lie.
            if (count > Left)
            {
                throw new InvalidDataException($"the footer claims {count} entries with {Left} bytes left");
            }

            for (var i = 0; i < count; i++)
            {
                if (type is 1 or 2)
                {
                    Byte(); // A bool in a list takes a byte.
                }
                else
                {
                    Value(type, depth + 1);
                }
            }
        }

        /// <summary>A length or count: a varint that must fit in the bytes left.</summary>
        private int Count()
        {
            var count = Varint();
            return count >= 0 && count <= Left ? (int)count : throw new InvalidDataException($"the footer claims {count} entries or bytes with {Left} left");
        }

        private long Varint()
        {
            long value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var b = Byte();
                value |= (long)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return value;
                }
            }

            throw new InvalidDataException($"the footer holds a varint longer than 10 bytes at byte {at}");
        }

        private void Skip(long count)
        {
            if (count > Left)
            {
                throw new InvalidDataException($"the footer ends inside a value at byte {at}");
            }

            at += (int)count;
        }

        private byte Byte() => at < bytes.Length ? bytes[at++] : throw new InvalidDataException("the footer ends inside a value");
    }
}
