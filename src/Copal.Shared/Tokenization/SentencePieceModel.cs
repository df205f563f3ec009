using System.Text;

namespace Copal.Tokenization;

/// <summary>Piece types of sentencepiece's <c>ModelProto.SentencePiece.Type</c>.</summary>
internal enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

internal readonly record struct SentencePieceEntry(string Piece, float Score, SentencePieceType Type);

/// <summary>
/// The parts of a sentencepiece <c>ModelProto</c> (sentencepiece_model.proto) that BPE encoding and
/// decoding depend on, read with a minimal protobuf decoder so no protobuf package is needed.
/// </summary>
internal sealed class SentencePieceModel
{
    private const int BpeModelType = 2;

    // Proto2 defaults from sentencepiece_model.proto, used when a field is absent.
    private const int DefaultUnkId = 0;
    private const int DefaultBosId = 1;
    private const int DefaultEosId = 2;
    private const string DefaultUnkSurface = " \u2047 ";

    private SentencePieceModel(
        IReadOnlyList<SentencePieceEntry> pieces, TrainerSpec trainer, NormalizerSpec normalizer)
    {
        Pieces = pieces;
        ByteFallback = trainer.ByteFallback;
        UnkId = trainer.UnkId;
        BosId = ControlOrNone(pieces, trainer.BosId);
        EosId = ControlOrNone(pieces, trainer.EosId);
        UnkSurface = trainer.UnkSurface;
        AddDummyPrefix = normalizer.AddDummyPrefix;
        RemoveExtraWhitespaces = normalizer.RemoveExtraWhitespaces;
        EscapeWhitespaces = normalizer.EscapeWhitespaces;
    }

    public IReadOnlyList<SentencePieceEntry> Pieces { get; }

    public bool ByteFallback { get; }

    public int UnkId { get; }

    /// <summary>Id of the BOS piece, or -1 when the model was trained without one.</summary>
    public int BosId { get; }

    /// <summary>Id of the EOS piece, or -1 when the model was trained without one.</summary>
    public int EosId { get; }

    /// <summary>Text the decoder emits for the unknown piece.</summary>
    public string UnkSurface { get; }

    public bool AddDummyPrefix { get; }

    public bool RemoveExtraWhitespaces { get; }

    public bool EscapeWhitespaces { get; }

    /// <summary>Reads and validates a <c>tokenizer.model</c> file.</summary>
    /// <exception cref="InvalidDataException">The file is truncated, corrupt, or not a BPE model this reader supports.</exception>
    public static SentencePieceModel Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var data = File.ReadAllBytes(path);
        try
        {
            return Parse(data, path);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"{path}: a string field is not valid UTF-8.", e);
        }
    }

    private static SentencePieceModel Parse(byte[] data, string path)
    {
        var pieces = new List<SentencePieceEntry>();
        TrainerSpec? trainer = null;
        var normalizer = new NormalizerSpec();
        var reader = new ProtoReader(data, path);
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch (field, wireType)
            {
                case (1, ProtoReader.LengthDelimited):
                    pieces.Add(ReadPiece(new ProtoReader(reader.ReadBytes(), path)));
                    break;
                case (2, ProtoReader.LengthDelimited):
                    trainer = ReadTrainerSpec(new ProtoReader(reader.ReadBytes(), path));
                    break;
                case (3, ProtoReader.LengthDelimited):
                    normalizer = ReadNormalizerSpec(new ProtoReader(reader.ReadBytes(), path));
                    break;
                default:
                    reader.Skip(field, wireType);
                    break;
            }
        }

        // Pieces are written before the trainer spec, so a file cut short loses the spec entirely.
        if (trainer is null)
        {
            throw new InvalidDataException($"{path}: no trainer_spec; the file is truncated or not a sentencepiece model.");
        }

        if (trainer.ModelType != BpeModelType)
        {
            throw new InvalidDataException(
                $"{path}: model_type is {trainer.ModelType}; only BPE ({BpeModelType}) models are supported.");
        }

        if (trainer.TreatWhitespaceAsSuffix)
        {
            throw new InvalidDataException($"{path}: treat_whitespace_as_suffix is not supported.");
        }

        if (normalizer.HasCharsMap)
        {
            throw new InvalidDataException(
                $"{path}: normalizer '{normalizer.Name}' uses a precompiled character map; only the identity normalizer is supported.");
        }

        Validate(pieces, trainer, path);
        return new SentencePieceModel(pieces, trainer, normalizer);
    }

    // Mirrors the checks of ModelInterface::InitializePieces, which refuses to load such models.
    private static void Validate(List<SentencePieceEntry> pieces, TrainerSpec trainer, string path)
    {
        if (pieces.Count == 0)
        {
            throw new InvalidDataException($"{path}: the model has no pieces.");
        }

        // Like sentencepiece, names must be unique within the normal table (normal, user-defined, unused)
        // and within the reserved table (unknown, control, byte), but may repeat across the two.
        var normal = new HashSet<string>(StringComparer.Ordinal);
        var reserved = new HashSet<string>(StringComparer.Ordinal);
        var byteCount = 0;
        foreach (var piece in pieces)
        {
            if (piece.Piece.Length == 0)
            {
                throw new InvalidDataException($"{path}: empty piece.");
            }

            if (!(IsNormalTable(piece.Type) ? normal : reserved).Add(piece.Piece))
            {
                throw new InvalidDataException($"{path}: piece '{piece.Piece}' is defined twice.");
            }

            if (piece.Type == SentencePieceType.Byte)
            {
                if (!trainer.ByteFallback || !TryParseBytePiece(piece.Piece, out _))
                {
                    throw new InvalidDataException($"{path}: unexpected byte piece '{piece.Piece}'.");
                }

                byteCount++;
            }
        }

        if (trainer.ByteFallback && byteCount != 256)
        {
            throw new InvalidDataException($"{path}: byte_fallback is on but {byteCount} of 256 byte pieces are defined.");
        }

        var unknowns = pieces.Count(p => p.Type == SentencePieceType.Unknown);
        if (unknowns != 1 || (uint)trainer.UnkId >= (uint)pieces.Count || pieces[trainer.UnkId].Type != SentencePieceType.Unknown)
        {
            throw new InvalidDataException($"{path}: unk_id {trainer.UnkId} is not the model's single unknown piece.");
        }
    }

    // Like SentencePieceProcessor::bos_id(), an id that does not name a control piece means "none".
    private static int ControlOrNone(IReadOnlyList<SentencePieceEntry> pieces, int id) =>
        (uint)id < (uint)pieces.Count && pieces[id].Type == SentencePieceType.Control ? id : -1;

    /// <summary>Whether sentencepiece looks the type up among mergeable pieces rather than reserved ones.</summary>
    public static bool IsNormalTable(SentencePieceType type) =>
        type is SentencePieceType.Normal or SentencePieceType.UserDefined or SentencePieceType.Unused;

    /// <summary>Parses sentencepiece's byte piece spelling <c>&lt;0xXX&gt;</c>.</summary>
    public static bool TryParseBytePiece(string piece, out byte value)
    {
        if (piece.Length != 6)
        {
            value = 0;
            return false;
        }

        // Only the exact upper-case spelling sentencepiece writes counts as a byte piece.
        return byte.TryParse(piece.AsSpan(3..^1), System.Globalization.NumberStyles.AllowHexSpecifier, null, out value)
            && piece == $"<0x{value:X2}>";
    }

    private static SentencePieceEntry ReadPiece(ProtoReader reader)
    {
        var piece = "";
        var score = 0f;
        var type = SentencePieceType.Normal;
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch (field, wireType)
            {
                case (1, ProtoReader.LengthDelimited):
                    piece = reader.ReadString();
                    break;
                case (2, ProtoReader.Fixed32):
                    score = BitConverter.UInt32BitsToSingle(reader.ReadFixed32());
                    break;
                case (3, ProtoReader.Varint):
                    var raw = reader.ReadVarint();
                    if (raw is < (ulong)SentencePieceType.Normal or > (ulong)SentencePieceType.Byte)
                    {
                        throw reader.Corrupt($"unknown piece type {raw}");
                    }

                    type = (SentencePieceType)raw;
                    break;
                default:
                    reader.Skip(field, wireType);
                    break;
            }
        }

        return new SentencePieceEntry(piece, score, type);
    }

    private static TrainerSpec ReadTrainerSpec(ProtoReader reader)
    {
        var spec = new TrainerSpec();
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch (field, wireType)
            {
                case (3, ProtoReader.Varint):
                    spec.ModelType = (int)reader.ReadVarint();
                    break;
                case (24, ProtoReader.Varint):
                    spec.TreatWhitespaceAsSuffix = reader.ReadVarint() != 0;
                    break;
                case (35, ProtoReader.Varint):
                    spec.ByteFallback = reader.ReadVarint() != 0;
                    break;
                case (40, ProtoReader.Varint):
                    spec.UnkId = (int)reader.ReadVarint();
                    break;
                case (41, ProtoReader.Varint):
                    spec.BosId = (int)reader.ReadVarint();
                    break;
                case (42, ProtoReader.Varint):
                    spec.EosId = (int)reader.ReadVarint();
                    break;
                case (44, ProtoReader.LengthDelimited):
                    spec.UnkSurface = reader.ReadString();
                    break;
                default:
                    reader.Skip(field, wireType);
                    break;
            }
        }

        return spec;
    }

    private static NormalizerSpec ReadNormalizerSpec(ProtoReader reader)
    {
        var spec = new NormalizerSpec();
        while (reader.TryReadTag(out var field, out var wireType))
        {
            switch (field, wireType)
            {
                case (1, ProtoReader.LengthDelimited):
                    spec.Name = reader.ReadString();
                    break;
                case (2, ProtoReader.LengthDelimited):
                    spec.HasCharsMap = !reader.ReadBytes().IsEmpty;
                    break;
                case (3, ProtoReader.Varint):
                    spec.AddDummyPrefix = reader.ReadVarint() != 0;
                    break;
                case (4, ProtoReader.Varint):
                    spec.RemoveExtraWhitespaces = reader.ReadVarint() != 0;
                    break;
                case (5, ProtoReader.Varint):
                    spec.EscapeWhitespaces = reader.ReadVarint() != 0;
                    break;
                default:
                    reader.Skip(field, wireType);
                    break;
            }
        }

        return spec;
    }

    private sealed class TrainerSpec
    {
        // Absent model_type means UNIGRAM (1), which is then rejected.
        public int ModelType { get; set; } = 1;

        public bool TreatWhitespaceAsSuffix { get; set; }

        public bool ByteFallback { get; set; }

        public int UnkId { get; set; } = DefaultUnkId;

        public int BosId { get; set; } = DefaultBosId;

        public int EosId { get; set; } = DefaultEosId;

        public string UnkSurface { get; set; } = DefaultUnkSurface;
    }

    private sealed class NormalizerSpec
    {
        public string Name { get; set; } = "";

        public bool HasCharsMap { get; set; }

        public bool AddDummyPrefix { get; set; } = true;

        public bool RemoveExtraWhitespaces { get; set; } = true;

        public bool EscapeWhitespaces { get; set; } = true;
    }

    /// <summary>Sequential protobuf wire-format reader; every overrun is reported as a corrupt file.</summary>
    private ref struct ProtoReader(ReadOnlySpan<byte> data, string path)
    {
        public const int Varint = 0;
        public const int Fixed64 = 1;
        public const int LengthDelimited = 2;
        public const int Fixed32 = 5;

        private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

        private readonly ReadOnlySpan<byte> data = data;
        private int position;

        public bool TryReadTag(out int field, out int wireType)
        {
            if (position == data.Length)
            {
                field = 0;
                wireType = 0;
                return false;
            }

            var tag = ReadVarint();
            field = (int)(tag >> 3);
            wireType = (int)(tag & 7);
            if (field <= 0 || tag >> 3 > int.MaxValue)
            {
                throw Corrupt($"invalid field number {tag >> 3}");
            }

            return true;
        }

        public ulong ReadVarint()
        {
            ulong result = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var b = Take(1)[0];
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return result;
                }
            }

            throw Corrupt("varint longer than 10 bytes");
        }

        public uint ReadFixed32() => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public ReadOnlySpan<byte> ReadBytes()
        {
            var length = ReadVarint();
            if (length > (ulong)(data.Length - position))
            {
                throw Corrupt($"length {length} runs past the end of the data");
            }

            return Take((int)length);
        }

        public string ReadString() => StrictUtf8.GetString(ReadBytes());

        public void Skip(int field, int wireType)
        {
            switch (wireType)
            {
                case Varint:
                    ReadVarint();
                    break;
                case Fixed64:
                    Take(8);
                    break;
                case LengthDelimited:
                    ReadBytes();
                    break;
                case Fixed32:
                    Take(4);
                    break;
                default:
                    throw Corrupt($"field {field} has unsupported wire type {wireType}");
            }
        }

        public readonly InvalidDataException Corrupt(string reason) =>
            new($"{path}: corrupt or truncated sentencepiece model: {reason}.");

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > data.Length - position)
            {
                throw Corrupt("unexpected end of data");
            }

            var slice = data.Slice(position, count);
            position += count;
            return slice;
        }
    }
}
