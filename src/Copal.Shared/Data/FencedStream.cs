namespace Copal.Data;

/// <summary>
/// A view of a stream that reads nothing at or past <see cref="End"/> and never reports the end of
/// the stream: such a read throws <see cref="EndOfStreamException"/>. Parquet.Net reads a page
/// header's Thrift varints byte by byte until one without its high bit, taking ReadByte's -1 at
/// the end of the file for 0xFF, so it would loop for ever there; and where a page decodes to fewer
/// values than its header claimed, it reads on into page headers nobody checked.
/// </summary>
internal sealed class FencedStream(Stream inner) : ReadThroughStream(inner)
{
    /// <summary>Where reading stops: the end of the stream, or of the bytes that were checked.</summary>
    public long End { get; set; } = inner.Length;

    public override int Read(Span<byte> buffer) => Checked(Inner.Read(buffer[..Allowed(buffer.Length)]), buffer.Length);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Checked(await Inner.ReadAsync(buffer[..Allowed(buffer.Length)], cancellationToken), buffer.Length);

    private int Allowed(int wanted)
    {
        var at = Inner.Position;
        return wanted == 0 || at < End ? (int)Math.Min(wanted, Math.Max(End - at, 0)) : throw Past(at);
    }

    private int Checked(int read, int wanted) => read > 0 || wanted == 0 ? read : throw Past(Inner.Position);

    private EndOfStreamException Past(long at) => new($"a read at byte {at}, past byte {End} where the checked bytes end");
}
