using System.Globalization;

namespace Copal.Planning;

/// <summary>Memory sizes as people write them ("80GiB", "80G", "512MiB", "1.5TiB", plain bytes) and as we print them.</summary>
public static class ByteSize
{
    public const long KiB = 1L << 10;
    public const long MiB = 1L << 20;
    public const long GiB = 1L << 30;
    public const long TiB = 1L << 40;

    /// <summary>
    /// Parses a size; every unit is binary (1024-based), as GPU memory is quoted: "80G", "80GB" and
    /// "80GiB" are all 80 x 2^30 bytes. Units are case-insensitive; a fraction of a byte is dropped.
    /// </summary>
    public static long Parse(string text)
    {
        var t = text.Trim();
        var end = t.Length;
        while (end > 0 && char.IsLetter(t[end - 1]))
        {
            end--;
        }

        var unit = t[end..].ToUpperInvariant();
        var number = t[..end].TrimEnd();
        long multiplier = unit switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => KiB,
            "M" or "MB" or "MIB" => MiB,
            "G" or "GB" or "GIB" => GiB,
            "T" or "TB" or "TIB" => TiB,
            _ => 0,
        };
        if (multiplier == 0 || number.Length == 0
            || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            throw new CopalInputException($"'{text}' is not a memory size (e.g. 80GiB, 512MiB, 1.5TiB or a number of bytes)");
        }

        var bytes = decimal.Floor(value * multiplier);
        if (bytes > long.MaxValue)
        {
            throw new CopalInputException($"'{text}' is too large a memory size");
        }

        return (long)bytes;
    }

    /// <summary>Bytes as GiB with one decimal, e.g. "80.0 GiB".</summary>
    public static string FormatGiB(long bytes) => ((double)bytes / GiB).ToString("F1", CultureInfo.InvariantCulture) + " GiB";

    /// <summary>Bytes in the largest binary unit up to GiB that keeps the figure at least 1, one decimal.</summary>
    public static string Format(long bytes)
    {
        var (unit, size) = Math.Abs(bytes) switch
        {
            >= GiB => ("GiB", GiB),
            >= MiB => ("MiB", MiB),
            >= KiB => ("KiB", KiB),
            _ => ("B", 1L),
        };
        return size == 1 ? $"{bytes} B" : ((double)bytes / size).ToString("F1", CultureInfo.InvariantCulture) + " " + unit;
    }
}
