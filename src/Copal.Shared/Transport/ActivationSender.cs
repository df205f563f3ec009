using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Copal.Transport;

/// <summary>
/// Sends <see cref="ActivationFrame"/>s to one <see cref="ActivationListener"/> over one TCP
/// connection, in order. Concurrent <see cref="SendAsync"/> calls are queued, never interleaved.
/// If a send fails or is cancelled part-way, the connection is closed (the receiver sees the
/// cut) and every later send throws; connect a new sender.
/// </summary>
public sealed class ActivationSender : IAsyncDisposable, IDisposable
{
    private static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(30);

    private readonly Socket socket;
    private readonly Stream stream;
    private readonly SemaphoreSlim gate = new(1, 1);
    private Exception? broken;
    private int disposed;

    private ActivationSender(Socket socket, Stream stream, EndPoint remote)
    {
        this.socket = socket;
        this.stream = stream;
        RemoteEndPoint = remote;
    }

    public EndPoint RemoteEndPoint { get; }

    /// <summary>
    /// Connects to a listener, retrying (connection refused, host not yet resolvable, ...) with a
    /// short back-off while the peer is still starting, authenticates (mutual TLS with
    /// <paramref name="tls"/>) and presents <paramref name="ticket"/>. Throws
    /// <see cref="TimeoutException"/> when no attempt succeeds within <paramref name="connectTimeout"/>
    /// (default 30 s), and <see cref="System.Security.Authentication.AuthenticationException"/> when
    /// the listener is not a member of the cluster.
    /// </summary>
    public static async Task<ActivationSender> ConnectAsync(string host, int port, LinkTicket ticket, DataPathTls? tls = null, TimeSpan? connectTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        var timeout = connectTimeout ?? DefaultConnectTimeout;
        var socket = await ConnectSocketAsync(host, port, timeout, cancellationToken).ConfigureAwait(false);

        // Read now: a listener that refuses may have closed the connection before the first send.
        var remote = socket.RemoteEndPoint is IPEndPoint { Address.IsIPv4MappedToIPv6: true } mapped
            ? new IPEndPoint(mapped.Address.MapToIPv4(), mapped.Port)
            : socket.RemoteEndPoint!;
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            using var handshake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            handshake.CancelAfter(timeout);
            if (tls is not null)
            {
                stream = await tls.ConnectAsync(stream, host, handshake.Token).ConfigureAwait(false);
            }

            await stream.WriteAsync(ticket.Encode(), handshake.Token).ConfigureAwait(false);
            return new ActivationSender(socket, stream, remote);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<Socket> ConnectSocketAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(50);
        Exception? lastError = null;
        while (true)
        {
            var remaining = timeout - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException($"could not connect to activation listener {host}:{port} within {timeout.TotalSeconds:0.###} s: {lastError?.Message ?? "timed out"}", lastError);
            }

            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendBufferSize = ActivationListener.SocketBufferBytes };
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(remaining);
            try
            {
                await socket.ConnectAsync(host, port, attempt.Token).ConfigureAwait(false);
                return socket;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                lastError = e is OperationCanceledException ? lastError : e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            var pause = delay < timeout - clock.Elapsed ? delay : timeout - clock.Elapsed;
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
        }
    }

    /// <summary>
    /// Writes one frame. Completes once all its bytes are handed to the kernel; it waits while the
    /// receiver is behind (back-pressure). The frame is neither modified nor disposed: keep its
    /// tensors alive and unchanged until this completes.
    /// </summary>
    public async Task SendAsync(ActivationFrame frame, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (broken is not null)
            {
                throw new IOException($"activation connection to {RemoteEndPoint} failed earlier: {broken.Message}", broken);
            }

            var flipBit = PayloadBitFlip.For(frame);
            try
            {
                await ActivationWire.WriteAsync(stream, frame, flipBit, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // A partly written frame cannot be resumed; cut the connection so the receiver knows.
                broken = e;
                socket.Dispose();
                if (e is OperationCanceledException)
                {
                    throw;
                }

                throw new IOException($"sending {frame.Kind} frame {frame.Sequence} to {RemoteEndPoint} failed: {e.Message}", e);
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Closes the connection. Bytes already handed to the kernel are still delivered.</summary>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already broken or closed.
        }

        stream.Dispose();
    }
}
