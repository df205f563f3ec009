using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Threading.Channels;
using Copal.Observability;
using Serilog;

namespace Copal.Transport;

/// <summary>
/// Receives <see cref="ActivationFrame"/>s over TCP. Binds at construction, accepts any number of
/// senders, and hands their frames to one consumer through a bounded channel of
/// <c>window</c> frames. When the channel is full a connection's reader stops reading, so TCP
/// flow control holds the sender back: memory stays bounded by the window plus the frame being
/// decoded per connection plus the kernel's socket buffers.
/// </summary>
/// <remarks>
/// Frames of one connection arrive in the order they were sent. A connection that fails (garbage
/// bytes, a cut mid-frame, a socket error, or a close that did not follow an
/// <see cref="FrameKind.EndOfStream"/> frame) surfaces as an <see cref="ActivationConnectionException"/>
/// from <see cref="ReadAsync"/> at its place in the stream; the listener keeps accepting, so the
/// consumer may keep reading (e.g. frames of a restarted sender). Received frames belong to the
/// consumer, which must dispose them. Disposing the listener closes every connection; pending and
/// later reads then throw <see cref="ObjectDisposedException"/>.
/// <para>
/// A connection is admitted before any frame of it is read: with <see cref="DataPathTls"/> its
/// peer must complete mutual TLS with a certificate of the cluster, and it must open with the
/// <see cref="LinkTicket"/> given to <see cref="Admit"/>. A refused connection is closed, logged
/// and counted (<see cref="CopalMetrics.DataConnectionsRefused"/>); the consumer never sees it.
/// </para>
/// </remarks>
public sealed class ActivationListener : IAsyncDisposable, IDisposable
{
    /// <summary>Socket send and receive buffer size used on both ends of the data path.</summary>
    internal const int SocketBufferBytes = 1 << 20;

    /// <summary>How long a new connection may take to authenticate, and an early upstream may wait for its ticket to be admitted.</summary>
    internal static readonly TimeSpan AdmissionTimeout = TimeSpan.FromSeconds(30);

    private readonly Socket listenSocket;
    private readonly Channel<Delivery> channel;
    private readonly CancellationTokenSource stopping = new();
    private readonly Dictionary<Socket, Task> connections = [];
    private readonly Task acceptLoop;
    private readonly UpstreamGate gate = new();
    private readonly DataPathTls? tls;
    private int disposed;

    /// <param name="host">Address or host name to bind, e.g. "127.0.0.1" or "0.0.0.0".</param>
    /// <param name="port">Port to bind; 0 picks a free one (see <see cref="Port"/>).</param>
    /// <param name="window">How many received frames may wait for the consumer (the channel capacity).</param>
    /// <param name="tls">Mutual TLS on every connection; null: plain TCP.</param>
    public ActivationListener(string host, int port, int window, DataPathTls? tls = null)
    {
        this.tls = tls;
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        var address = BindAddress(host);
        channel = Channel.CreateBounded<Delivery>(new BoundedChannelOptions(window)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = false,
            SingleWriter = false,
        });
        listenSocket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // Set before listen so accepted sockets inherit it and the TCP window scale fits it.
            listenSocket.ReceiveBufferSize = SocketBufferBytes;
            listenSocket.Bind(new IPEndPoint(address, port));
            listenSocket.Listen(64);
        }
        catch
        {
            listenSocket.Dispose();
            throw;
        }

        LocalEndPoint = (IPEndPoint)listenSocket.LocalEndPoint!;
        acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The bound address and port.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The bound port (the ephemeral one when constructed with port 0).</summary>
    public int Port => LocalEndPoint.Port;

    /// <summary>From now on, admit the upstream that holds <paramref name="ticket"/> (and no other).</summary>
    public void Admit(LinkTicket ticket) => gate.Expect(ticket);

    /// <summary>
    /// The next frame from any connection (the caller owns and must dispose it). Throws
    /// <see cref="ActivationConnectionException"/> when a connection failed and
    /// <see cref="ObjectDisposedException"/> once the listener is disposed.
    /// </summary>
    public async ValueTask<ActivationFrame> ReadAsync(CancellationToken cancellationToken = default)
    {
        Delivery delivery;
        try
        {
            delivery = await channel.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(ActivationListener), "the activation listener was disposed");
        }

        return delivery.Frame ?? throw delivery.Error!;
    }

    /// <summary>
    /// All frames as they arrive, until the listener is disposed (then the sequence ends). A failed
    /// connection throws <see cref="ActivationConnectionException"/>. The caller owns each frame.
    /// </summary>
    public async IAsyncEnumerable<ActivationFrame> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var delivery in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return delivery.Frame ?? throw delivery.Error!;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        stopping.Cancel();
        listenSocket.Dispose();
        Task[] running;
        lock (connections)
        {
            foreach (var socket in connections.Keys)
            {
                socket.Dispose();
            }

            running = [acceptLoop, .. connections.Values];
        }

        try
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        catch
        {
            // The loops report their own failures; on shutdown nothing is left to tell.
        }

        channel.Writer.TryComplete();
        while (channel.Reader.TryRead(out var delivery))
        {
            delivery.Frame?.Dispose();
        }

        stopping.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static IPAddress BindAddress(string host)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        if (IPAddress.TryParse(host, out var address))
        {
            return address;
        }

        var addresses = Dns.GetHostAddresses(host);
        return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
            ?? addresses.FirstOrDefault()
            ?? throw new ArgumentException($"host '{host}' resolves to no address", nameof(host));
    }

    private async Task AcceptLoopAsync()
    {
        var token = stopping.Token;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listenSocket.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                // A connection that died while being accepted; keep listening.
                continue;
            }

            socket.NoDelay = true;
            lock (connections)
            {
                if (token.IsCancellationRequested)
                {
                    socket.Dispose();
                    return;
                }

                // Registered under the lock the reader needs to remove itself, so removal comes after.
                connections[socket] = Task.Run(() => ReceiveLoopAsync(socket));
            }
        }
    }

    private async Task ReceiveLoopAsync(Socket socket)
    {
        var token = stopping.Token;
        var remote = socket.RemoteEndPoint;
        ActivationConnectionException? failure = null;
        try
        {
            await using var stream = await AdmittedAsync(socket, remote, token).ConfigureAwait(false);
            if (stream is null)
            {
                return;
            }

            var lastWasEnd = false;
            while (true)
            {
                var frame = await ActivationWire.ReadAsync(stream, token).ConfigureAwait(false);
                if (frame is null)
                {
                    if (!lastWasEnd)
                    {
                        failure = new ActivationConnectionException($"activation sender {remote} closed the connection without sending EndOfStream", remote);
                    }

                    break;
                }

                lastWasEnd = frame.Kind == FrameKind.EndOfStream;
                try
                {
                    await channel.Writer.WriteAsync(new Delivery(frame, null), token).ConfigureAwait(false);
                }
                catch
                {
                    frame.Dispose();
                    throw;
                }
            }
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // Disposing: the socket was closed under the reader.
        }
        catch (Exception e)
        {
            failure = new ActivationConnectionException($"activation connection from {remote} failed: {e.Message}", remote, e);
        }
        finally
        {
            lock (connections)
            {
                connections.Remove(socket);
            }

            socket.Dispose();
        }

        if (failure is not null)
        {
            try
            {
                await channel.Writer.WriteAsync(new Delivery(null, failure), token).ConfigureAwait(false);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                // Disposing: nobody is left to tell.
            }
        }
    }

    /// <summary>The connection's stream once its peer is admitted; null when refused (logged and counted).</summary>
    private async Task<Stream?> AdmittedAsync(Socket socket, EndPoint? remote, CancellationToken token)
    {
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        string reason, kind;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(token);
        deadline.CancelAfter(AdmissionTimeout);
        try
        {
            if (tls is not null)
            {
                stream = await tls.AcceptAsync(stream, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException && !token.IsCancellationRequested)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            Refused(remote, "certificate", $"mutual TLS failed: {Innermost(e).Message}");
            return null;
        }

        try
        {
            var bytes = new byte[LinkTicket.WireBytes];
            await stream.ReadExactlyAsync(bytes, deadline.Token).ConfigureAwait(false);
            var ticket = LinkTicket.Decode(bytes);
            if (await gate.RefusalAsync(ticket, AdmissionTimeout, token).ConfigureAwait(false) is not { } refusal)
            {
                return stream;
            }

            (kind, reason) = ("upstream", refusal);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or OperationCanceledException && !token.IsCancellationRequested)
        {
            (kind, reason) = ("ticket", e is OperationCanceledException ? $"no link ticket within {AdmissionTimeout.TotalSeconds:0} s" : e.Message);
        }

        await stream.DisposeAsync().ConfigureAwait(false);
        Refused(remote, kind, reason);
        return null;
    }

    private static void Refused(EndPoint? remote, string kind, string reason)
    {
        CopalMetrics.DataConnectionsRefused.WithLabels(kind).Inc();
        Log.Warning("Refused data connection from {Remote}: {Reason}", remote?.ToString(), reason);
    }

    private static Exception Innermost(Exception e) => e.InnerException is { } inner ? Innermost(inner) : e;

    private readonly record struct Delivery(ActivationFrame? Frame, ActivationConnectionException? Error);
}
