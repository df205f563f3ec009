using System.Runtime.InteropServices;

namespace Copal.Model;

/// <summary>
/// A linear's keep-mask, bit-packed: one bit per weight, elements in row-major order, element i
/// in byte i / 8 at bit i % 8 (least significant bit first); the unused bits of the last byte are 0.
/// A bit is 1 where the stage holds the base's stored bits, 0 where it holds +0 instead.
/// </summary>
public static class KeepMask
{
    public static long PackedLength(long elements) => (elements + 7) / 8;

    /// <summary>
    /// The mask of a stage's stored values against the base's (same dtype, same length). Throws
    /// where the stage holds anything else than the base's bits or +0: its weights changed, and a
    /// mask cannot hold them.
    /// </summary>
    public static byte[] Pack(ReadOnlySpan<byte> stage, ReadOnlySpan<byte> baseValues, int elementSize, string name)
    {
        if (stage.Length != baseValues.Length)
        {
            throw new ArgumentException($"{name}: the stage has {stage.Length} bytes, the base {baseValues.Length}", nameof(stage));
        }

        var packed = new byte[PackedLength(stage.Length / elementSize)];
        var changed = elementSize switch
        {
            4 => Pack(MemoryMarshal.Cast<byte, uint>(stage), MemoryMarshal.Cast<byte, uint>(baseValues), packed),
            2 => Pack(MemoryMarshal.Cast<byte, ushort>(stage), MemoryMarshal.Cast<byte, ushort>(baseValues), packed),
            _ => throw new ArgumentOutOfRangeException(nameof(elementSize), $"{name}: weights of {elementSize} bytes cannot be masked"),
        };
        if (changed >= 0)
        {
            throw new InvalidOperationException($"{name}: weight {changed} is neither the base's nor +0, so the stage cannot be stored as masks");
        }

        return packed;
    }

    /// <summary>Sets the values whose bit is 0 to +0, in place (stored bytes of one dtype).</summary>
    public static void Apply(Span<byte> values, ReadOnlySpan<byte> packed, int elementSize, string name)
    {
        var elements = values.Length / elementSize;
        if (packed.Length != PackedLength(elements))
        {
            throw new CopalInputException($"{name}: its mask has {packed.Length} bytes, {PackedLength(elements)} expected for {elements} weights");
        }

        switch (elementSize)
        {
            case 4: Apply(MemoryMarshal.Cast<byte, uint>(values), packed); break;
            case 2: Apply(MemoryMarshal.Cast<byte, ushort>(values), packed); break;
            default: throw new CopalInputException($"{name}: weights of {elementSize} bytes cannot be masked");
        }
    }

    /// <summary>Fills <paramref name="packed"/>; the index of the first element that is neither kept nor +0, or -1.</summary>
    private static long Pack<T>(ReadOnlySpan<T> stage, ReadOnlySpan<T> baseValues, Span<byte> packed)
        where T : unmanaged, IEquatable<T>
    {
        for (var i = 0; i < stage.Length; i++)
        {
            if (stage[i].Equals(baseValues[i]))
            {
                packed[i >> 3] |= (byte)(1 << (i & 7));
            }
            else if (!stage[i].Equals(default))
            {
                return i;
            }
        }

        return -1;
    }

    private static void Apply<T>(Span<T> values, ReadOnlySpan<byte> packed)
        where T : unmanaged
    {
        for (var i = 0; i < values.Length; i++)
        {
            if (((packed[i >> 3] >> (i & 7)) & 1) == 0)
            {
                values[i] = default;
            }
        }
    }
}
