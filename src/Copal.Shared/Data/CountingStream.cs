namespace Copal.Data;

/// <summary>Passes reads (and seeks) through to another stream, counting the bytes read.</summary>
internal sealed class CountingStream(Stream inner, Action<long>? counted = null) : ReadThroughStream(inner)
{
    public long BytesRead { get; private set; }

    public override int Read(Span<byte> buffer) => Count(Inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await Inner.ReadAsync(buffer, cancellationToken));

    private int Count(int bytes)
    {
        BytesRead += bytes;
        counted?.Invoke(BytesRead);
        return bytes;
    }
}
