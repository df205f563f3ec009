using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Copal.Transport;

/// <summary>
/// What an upstream shows when it opens a data connection: the epoch of its assignment and a key
/// the coordinator drew for this one link and sent to both of its ends over remoting. A member
/// that is not the link's upstream in this epoch does not hold the key, so it cannot feed the node.
/// </summary>
/// <param name="Key">The link's key, hexadecimal.</param>
public sealed record LinkTicket(long Epoch, string Key)
{
    /// <summary>The ticket's length on the wire.</summary>
    public const int WireBytes = 4 + 8 + KeyBytes;
    private const int KeyBytes = 16;

    private static ReadOnlySpan<byte> Magic => "CPLT"u8;

    /// <summary>A fresh ticket with a random key.</summary>
    public static LinkTicket Draw(long epoch) => new(epoch, Convert.ToHexString(RandomNumberGenerator.GetBytes(KeyBytes)));

    /// <summary>Whether <paramref name="presented"/> is this ticket, compared in constant time.</summary>
    public bool Admits(LinkTicket presented) =>
        presented.Epoch == Epoch && CryptographicOperations.FixedTimeEquals(KeyBytesOf(Key), KeyBytesOf(presented.Key));

    /// <summary>The ticket as the first bytes of a connection: magic "CPLT", epoch (i64 LE), key.</summary>
    public byte[] Encode()
    {
        var bytes = new byte[WireBytes];
        Magic.CopyTo(bytes);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(Magic.Length), Epoch);
        KeyBytesOf(Key).CopyTo(bytes.AsSpan(Magic.Length + 8));
        return bytes;
    }

    /// <summary>Throws <see cref="InvalidDataException"/> on bytes that are not a ticket.</summary>
    internal static LinkTicket Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != WireBytes || !bytes[..Magic.Length].SequenceEqual(Magic))
        {
            throw new InvalidDataException("the connection did not open with a link ticket");
        }

        return new LinkTicket(BinaryPrimitives.ReadInt64LittleEndian(bytes[Magic.Length..]), Convert.ToHexString(bytes[(Magic.Length + 8)..]));
    }

    private static byte[] KeyBytesOf(string key)
    {
        try
        {
            var bytes = Convert.FromHexString(key);
            return bytes.Length == KeyBytes ? bytes : throw new FormatException($"{bytes.Length} bytes");
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"a link key is {KeyBytes} bytes in hexadecimal: {e.Message}", nameof(key), e);
        }
    }
}
