using System.Text;

namespace Copal.Fuzz;

/// <summary>
/// A small BPE sentencepiece <c>ModelProto</c>, encoded by hand (the project reads the format but
/// never writes it): a real tokenizer.model is hundreds of kilobytes, too large a seed to mutate.
/// </summary>
public static class SentencePieceSeed
{
    private const int Normal = 1;
    private const int Unknown = 2;
    private const int Control = 3;
    private const int ByteType = 6;

    /// <summary>A model of a few pieces; with <paramref name="byteFallback"/>, the 256 byte pieces too.</summary>
    public static byte[] Model(bool byteFallback)
    {
        var model = new MemoryStream();
        Piece(model, "<unk>", 0, Unknown);
        Piece(model, "<s>", 0, Control);
        Piece(model, "</s>", 0, Control);
        if (byteFallback)
        {
            for (var b = 0; b < 256; b++)
            {
                Piece(model, $"<0x{b:X2}>", 0, ByteType);
            }
        }

        var score = -1f;
        foreach (var piece in new[] { "\u2581a", "b", "\u2581", "a", "\u2581ab", "c" })
        {
            Piece(model, piece, score--, Normal);
        }

        var trainer = new MemoryStream();
        Varint(trainer, 3, 2); // model_type BPE
        Varint(trainer, 35, byteFallback ? 1UL : 0);
        Varint(trainer, 40, 0); // unk_id
        Varint(trainer, 41, 1); // bos_id
        Varint(trainer, 42, 2); // eos_id
        Bytes(trainer, 44, Encoding.UTF8.GetBytes(" \u2047 "));
        Bytes(model, 2, trainer.ToArray());

        var normalizer = new MemoryStream();
        Bytes(normalizer, 1, "identity"u8.ToArray());
        Varint(normalizer, 3, 1); // add_dummy_prefix
        Varint(normalizer, 4, 1); // remove_extra_whitespaces
        Bytes(model, 3, normalizer.ToArray());
        return model.ToArray();
    }

    private static void Piece(Stream model, string piece, float score, int type)
    {
        var entry = new MemoryStream();
        Bytes(entry, 1, Encoding.UTF8.GetBytes(piece));
        Tag(entry, 2, 5);
        entry.Write(BitConverter.GetBytes(score));
        Varint(entry, 3, (ulong)type);
        Bytes(model, 1, entry.ToArray());
    }

    private static void Varint(Stream stream, int field, ulong value)
    {
        Tag(stream, field, 0);
        Raw(stream, value);
    }

    private static void Bytes(Stream stream, int field, byte[] value)
    {
        Tag(stream, field, 2);
        Raw(stream, (ulong)value.Length);
        stream.Write(value);
    }

    private static void Tag(Stream stream, int field, int wireType) => Raw(stream, ((ulong)field << 3) | (uint)wireType);

    private static void Raw(Stream stream, ulong value)
    {
        for (; value >= 0x80; value >>= 7)
        {
            stream.WriteByte((byte)(value | 0x80));
        }

        stream.WriteByte((byte)value);
    }
}
