using System.Text;

namespace Copal.Tokenization;

/// <summary>
/// A SentencePiece BPE tokenizer that reproduces <c>SentencePieceProcessor::Encode</c>/<c>Decode</c>
/// (normalizer.cc, bpe_model.cc, sentencepiece_processor.cc) for models with the identity normalizer,
/// such as LLaMA's <c>tokenizer.model</c>.
/// </summary>
public sealed class SentencePieceTokenizer : ITokenizer
{
    private const char SpaceSymbol = '\u2581';

    private readonly SentencePieceModel model;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> normalPieces;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> reservedPieces;

    // User-defined pieces by first character, longest first, for sentencepiece's longest-prefix matcher.
    private readonly Dictionary<char, string[]> userDefinedByFirstChar;

    // Id of the <0xXX> piece for each byte value; empty without byte fallback.
    private readonly int[] byteFallbackIds;

    // Byte value of each byte piece by id, -1 for other pieces.
    private readonly int[] byteValues;

    private SentencePieceTokenizer(SentencePieceModel model)
    {
        this.model = model;
        var normal = new Dictionary<string, int>(StringComparer.Ordinal);
        var reserved = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var id = 0; id < model.Pieces.Count; id++)
        {
            var piece = model.Pieces[id];
            (SentencePieceModel.IsNormalTable(piece.Type) ? normal : reserved).Add(piece.Piece, id);
        }

        normalPieces = normal.GetAlternateLookup<ReadOnlySpan<char>>();
        reservedPieces = reserved.GetAlternateLookup<ReadOnlySpan<char>>();

        userDefinedByFirstChar = model.Pieces
            .Where(p => p.Type == SentencePieceType.UserDefined)
            .GroupBy(p => p.Piece[0])
            .ToDictionary(g => g.Key, g => g.Select(p => p.Piece).OrderByDescending(p => p.Length).ToArray());

        byteFallbackIds = model.ByteFallback
            ? [.. Enumerable.Range(0, 256).Select(b => PieceToId($"<0x{b:X2}>"))]
            : [];

        byteValues = [.. model.Pieces.Select(p => p.Type == SentencePieceType.Byte && SentencePieceModel.TryParseBytePiece(p.Piece, out var b) ? b : -1)];
    }

    /// <summary>Id of <c>&lt;s&gt;</c>, or -1 if the model has none.</summary>
    public int BosId => model.BosId;

    /// <summary>Id of <c>&lt;/s&gt;</c>, or -1 if the model has none.</summary>
    public int EosId => model.EosId;

    public int UnkId => model.UnkId;

    /// <summary>Number of pieces, including control, unknown and byte pieces.</summary>
    public int VocabSize => model.Pieces.Count;

    /// <summary>Loads a sentencepiece <c>tokenizer.model</c> file.</summary>
    /// <exception cref="InvalidDataException">The file is truncated, corrupt, or not a supported BPE model.</exception>
    public static SentencePieceTokenizer Load(string path) => new(SentencePieceModel.Load(path));

    /// <summary>A checkpoint's tokenizer given by a user: a missing or unreadable file is an input error naming it.</summary>
    public static SentencePieceTokenizer LoadInput(string path)
    {
        if (!File.Exists(path))
        {
            throw new CopalInputException($"{path}: tokenizer not found (LLaMA checkpoints carry a sentencepiece tokenizer.model)");
        }

        try
        {
            return Load(path);
        }
        catch (InvalidDataException e)
        {
            throw new CopalInputException(e.Message, e);
        }
    }

    /// <summary>Encodes <paramref name="text"/> as one sequence, without BOS or EOS.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var normalized = Normalize(text);
        if (normalized.Length == 0)
        {
            return [];
        }

        var ids = new List<int>(normalized.Length / 3);
        var isPrevUnknown = false;
        foreach (var (start, length) in Segment(normalized))
        {
            var piece = normalized.AsSpan(start, length);
            var id = PieceToId(piece);
            var isUnknown = model.Pieces[id].Type == SentencePieceType.Unknown;
            if (isUnknown && model.ByteFallback)
            {
                foreach (var b in Encoding.UTF8.GetBytes(normalized, start, length))
                {
                    ids.Add(byteFallbackIds[b]);
                }
            }
            else if (!(isUnknown && isPrevUnknown))
            {
                // A run of unknown pieces collapses into a single unknown id, as in PopulateSentencePieceText.
                ids.Add(id);
            }

            isPrevUnknown = isUnknown;
        }

        return [.. ids];
    }

    /// <summary>Decodes ids to text; control ids are invisible and one leading dummy-prefix space is dropped.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var pendingBytes = new List<byte>();
        var expectBosSpace = true;
        var bosSpaceSeen = false;
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)model.Pieces.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id must be in [0, {model.Pieces.Count}).");
            }

            if (byteValues[id] >= 0)
            {
                pendingBytes.Add((byte)byteValues[id]);
                continue;
            }

            AppendUtf8(text, pendingBytes);
            pendingBytes.Clear();

            // Only the first visible piece may carry the space added by add_dummy_prefix.
            if (bosSpaceSeen || text.Length > 0)
            {
                expectBosSpace = false;
            }

            bosSpaceSeen = AppendPiece(text, model.Pieces[id], expectBosSpace);
        }

        AppendUtf8(text, pendingBytes);
        return text.ToString();
    }

    /// <summary>Returns whether a leading dummy-prefix space was consumed.</summary>
    private bool AppendPiece(StringBuilder text, SentencePieceEntry piece, bool expectBosSpace)
    {
        switch (piece.Type)
        {
            case SentencePieceType.Control:
                return false;
            case SentencePieceType.Unknown:
                text.Append(model.UnkSurface);
                return false;
        }

        var surface = piece.Piece.AsSpan();
        var consumed = false;
        if (expectBosSpace && (model.AddDummyPrefix || model.RemoveExtraWhitespaces) && surface[0] == SpaceSymbol)
        {
            surface = surface[1..];

            // With remove_extra_whitespaces every leading space is dropped, not just the first.
            consumed = !model.RemoveExtraWhitespaces;
        }

        foreach (var c in surface)
        {
            text.Append(c == SpaceSymbol ? ' ' : c);
        }

        return consumed;
    }

    /// <summary>Appends byte-piece output, mapping each byte that starts no valid UTF-8 sequence to U+FFFD.</summary>
    private static void AppendUtf8(StringBuilder text, List<byte> bytes)
    {
        ReadOnlySpan<byte> rest = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes);
        Span<char> utf16 = stackalloc char[2];
        while (!rest.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(rest, out var rune, out var consumed) == System.Buffers.OperationStatus.Done)
            {
                text.Append(utf16[..rune.EncodeToUtf16(utf16)]);
                rest = rest[consumed..];
            }
            else
            {
                text.Append('\uFFFD');
                rest = rest[1..];
            }
        }
    }

    /// <summary>
    /// The identity normalizer of normalizer.cc: optional removal of leading, trailing and repeated
    /// spaces, the dummy-prefix space, and spaces escaped as U+2581. Ill-formed UTF-16 becomes U+FFFD,
    /// matching what sentencepiece does with the equivalent ill-formed UTF-8.
    /// </summary>
    private string Normalize(string text)
    {
        var position = 0;
        if (model.RemoveExtraWhitespaces)
        {
            while (position < text.Length && text[position] == ' ')
            {
                position++;
            }
        }

        if (position == text.Length)
        {
            return "";
        }

        var space = model.EscapeWhitespaces ? SpaceSymbol : ' ';
        var normalized = new StringBuilder(text.Length + 1);
        if (model.AddDummyPrefix)
        {
            normalized.Append(space);
        }

        var isPrevSpace = model.RemoveExtraWhitespaces;
        while (position < text.Length)
        {
            var unit = NextUnit(text, position, out var consumed);
            if (isPrevSpace)
            {
                unit = unit.TrimStart(' ');
            }

            if (!unit.IsEmpty)
            {
                foreach (var c in unit)
                {
                    normalized.Append(c == ' ' ? space : c);
                }

                isPrevSpace = model.RemoveExtraWhitespaces && unit[^1] == ' ';
            }

            position += consumed;
        }

        if (model.RemoveExtraWhitespaces)
        {
            while (normalized.Length > 0 && normalized[^1] == space)
            {
                normalized.Length--;
            }
        }

        return normalized.ToString();
    }

    /// <summary>The next normalizer unit: a whole user-defined piece or one code point.</summary>
    private ReadOnlySpan<char> NextUnit(string text, int position, out int consumed)
    {
        consumed = UserDefinedMatchLength(text, position);
        if (consumed > 0)
        {
            return text.AsSpan(position, consumed);
        }

        consumed = 1;
        var c = text[position];
        if (char.IsHighSurrogate(c) && position + 1 < text.Length && char.IsLowSurrogate(text[position + 1]))
        {
            consumed = 2;
            return text.AsSpan(position, 2);
        }

        return char.IsSurrogate(c) ? "\uFFFD" : text.AsSpan(position, 1);
    }

    private int UserDefinedMatchLength(string text, int position)
    {
        if (userDefinedByFirstChar.TryGetValue(text[position], out var candidates))
        {
            foreach (var candidate in candidates)
            {
                if (text.AsSpan(position).StartsWith(candidate, StringComparison.Ordinal))
                {
                    return candidate.Length;
                }
            }
        }

        return 0;
    }

    /// <summary>
    /// bpe_model.cc's Encode: start from code points (user-defined pieces frozen as single symbols) and
    /// repeatedly merge the adjacent pair whose concatenation is the best-scoring piece, the leftmost
    /// one on ties. Works on the whole text at once in O(n log n), as sentencepiece does.
    /// </summary>
    /// <returns>Pieces as (start, length) ranges of <paramref name="normalized"/>.</returns>
    private List<(int Start, int Length)> Segment(string normalized)
    {
        var symbols = new List<Symbol>(normalized.Length);
        for (var position = 0; position < normalized.Length;)
        {
            var length = UserDefinedMatchLength(normalized, position);
            var freeze = length > 0;
            if (!freeze)
            {
                length = char.IsHighSurrogate(normalized[position]) ? 2 : 1;
            }

            var index = symbols.Count;
            var next = position + length < normalized.Length ? index + 1 : -1;
            symbols.Add(new Symbol(position, length, index - 1, next, freeze));
            position += length;
        }

        var symbolSpan = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols);
        var agenda = new PriorityQueue<MergeCandidate, ulong>(symbols.Count);

        // Merged piece -> length of its left part, for splitting unused pieces back up. As in sentencepiece,
        // the most recently queued pair producing a piece wins.
        var unusedSplits = new Dictionary<string, int>(StringComparer.Ordinal);
        var unusedSplitLookup = unusedSplits.GetAlternateLookup<ReadOnlySpan<char>>();

        void MaybeQueue(Span<Symbol> span, int left, int right)
        {
            if (left == -1 || right == -1 || span[left].Freeze || span[right].Freeze)
            {
                return;
            }

            var size = span[left].Length + span[right].Length;
            var merged = normalized.AsSpan(span[left].Start, size);
            if (!normalPieces.TryGetValue(merged, out var id))
            {
                return;
            }

            agenda.Enqueue(new MergeCandidate(left, right, size), MergeCandidate.Priority(model.Pieces[id].Score, left));
            if (model.Pieces[id].Type == SentencePieceType.Unused)
            {
                unusedSplitLookup[merged] = span[left].Length;
            }
        }

        for (var i = 1; i < symbolSpan.Length; i++)
        {
            MaybeQueue(symbolSpan, i - 1, i);
        }

        while (agenda.TryDequeue(out var top, out _))
        {
            ref var left = ref symbolSpan[top.Left];
            ref var right = ref symbolSpan[top.Right];

            // Stale: one side was merged away or has grown since this pair was queued.
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != top.Size)
            {
                continue;
            }

            left.Length += right.Length;
            left.Next = right.Next;
            if (right.Next >= 0)
            {
                symbolSpan[right.Next].Prev = top.Left;
            }

            right.Length = 0;
            MaybeQueue(symbolSpan, left.Prev, top.Left);
            MaybeQueue(symbolSpan, top.Left, left.Next);
        }

        var result = new List<(int Start, int Length)>();
        for (var index = 0; index != -1; index = symbolSpan[index].Next)
        {
            Resegment(symbolSpan[index].Start, symbolSpan[index].Length);
        }

        return result;

        // Unused pieces may be merged through but never emitted, so they are split back into their parts.
        void Resegment(int start, int length)
        {
            var piece = normalized.AsSpan(start, length);
            if (model.Pieces[PieceToId(piece)].Type == SentencePieceType.Unused
                && unusedSplitLookup.TryGetValue(piece, out var leftLength))
            {
                Resegment(start, leftLength);
                Resegment(start + leftLength, length - leftLength);
            }
            else
            {
                result.Add((start, length));
            }
        }
    }

    /// <summary>sentencepiece's PieceToId: reserved pieces first, then normal ones, else unknown.</summary>
    private int PieceToId(ReadOnlySpan<char> piece) =>
        reservedPieces.TryGetValue(piece, out var id) || normalPieces.TryGetValue(piece, out id) ? id : model.UnkId;

    private struct Symbol(int start, int length, int prev, int next, bool freeze)
    {
        public int Start = start;
        public int Length = length;
        public int Prev = prev;
        public int Next = next;
        public readonly bool Freeze = freeze;
    }

    private readonly record struct MergeCandidate(int Left, int Right, int Size)
    {
        /// <summary>
        /// A min-heap key that orders by higher score first, then the leftmost pair, like bpe_model.cc's
        /// SymbolPairComparator; packing both into an integer keeps the heap's comparisons cheap.
        /// </summary>
        public static ulong Priority(float score, int left)
        {
            // Map float order onto unsigned order; +0 stands for -0 because the two compare equal.
            var bits = BitConverter.SingleToUInt32Bits(score == 0 ? 0f : score);
            var ascending = (bits & 0x8000_0000) != 0 ? ~bits : bits | 0x8000_0000;
            return ((ulong)~ascending << 32) | (uint)left;
        }
    }
}
