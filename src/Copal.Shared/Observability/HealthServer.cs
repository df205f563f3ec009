using System.Net;
using System.Net.Sockets;
using Prometheus;
using Serilog;

namespace Copal.Observability;

/// <summary>
/// A small HTTP server on the metrics port: <c>/metrics</c> (Prometheus text format),
/// <c>/healthz</c> (200 while the process runs: the liveness probe) and <c>/readyz</c> (200 once
/// <c>ready()</c> is true, 503 before: the readiness probe), and on a coordinator <c>/status</c>
/// (the run's state as JSON, 404 when there is none). Binds every interface. A plain socket, not
/// HttpListener: the managed HttpListener's Start throws when a probe connects while it starts
/// (dotnet/corefx#35191), and ASP.NET would need another runtime image.
/// </summary>
public sealed class HealthServer : IDisposable
{
    public const string MetricsPath = "/metrics";
    public const string HealthPath = "/healthz";
    public const string ReadyPath = "/readyz";
    public const string StatusPath = "/status";

    /// <summary>How long a client may take to send its request and read the answer.</summary>
    private static readonly TimeSpan ExchangeTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket listener;
    private readonly Func<bool> ready;
    private readonly Func<string?>? status;
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;

    private HealthServer(Socket listener, int port, Func<bool> ready, Func<string?>? status)
    {
        this.listener = listener;
        this.ready = ready;
        this.status = status;
        Port = port;
        loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>Starts the server on <paramref name="port"/>; null when the port is 0 (metrics off). <paramref name="status"/> answers /status with JSON.</summary>
    public static HealthServer? Start(int port, Func<bool>? ready = null, Func<string?>? status = null)
    {
        if (port == 0)
        {
            return null;
        }

        if (port is < 0 or > 65535)
        {
            throw new CopalInputException($"metrics port must be 0..65535, got {port}");
        }

        CopalMetrics.Initialise();
        var server = new HealthServer(Listen(port), port, ready ?? (() => true), status);
        Log.Information("Metrics and health on http://0.0.0.0:{Port}{Metrics} ({Health}, {Ready})", port, MetricsPath, HealthPath, ReadyPath);
        return server;
    }

    /// <summary>A socket listening on every interface: IPv4 and IPv6 where the kernel has IPv6 (some containers do not).</summary>
    private static Socket Listen(int port)
    {
        var any = Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any;
        var socket = new Socket(any.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (any.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // DualMode throws on an IPv4 socket.
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(any, port));
            socket.Listen(64);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new CopalInputException($"metrics port {port}: {e.Message}");
        }
    }

    private async Task ServeAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stop.Token);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of file descriptors, say: wait instead of spinning on the error.
                Log.Warning("Metrics server: {Error}", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(100));
                continue;
            }

            _ = Task.Run(() => ExchangeAsync(client));
        }
    }

    private async Task ExchangeAsync(Socket client)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        timeout.CancelAfter(ExchangeTimeout);
        await using var stream = new NetworkStream(client, ownsSocket: true);
        try
        {
            var request = await HttpExchange.ReadRequestAsync(stream, timeout.Token);
            var answer = request is null ? HttpAnswer.Text(400, "bad request\n") : await AnswerAsync(request, timeout.Token);
            await HttpExchange.WriteAsync(stream, answer, request?.Method == "HEAD", timeout.Token);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away, was too slow, or the server is stopping.
        }
    }

    private async Task<HttpAnswer> AnswerAsync(HttpRequestLine request, CancellationToken token)
    {
        if (request.Method is not ("GET" or "HEAD"))
        {
            return HttpAnswer.Text(405, "method not allowed\n");
        }

        switch (request.Path)
        {
            case MetricsPath:
                using (var buffer = new MemoryStream())
                {
                    await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(buffer, token);
                    return new HttpAnswer(200, "text/plain; version=0.0.4; charset=utf-8", buffer.ToArray());
                }

            case HealthPath:
                return HttpAnswer.Text(200, "ok\n");
            case ReadyPath:
                var isReady = ready();
                return HttpAnswer.Text(isReady ? 200 : 503, isReady ? "ready\n" : "not ready\n");
            case StatusPath when status?.Invoke() is { } json:
                return HttpAnswer.Text(200, json, "application/json");
            default:
                return HttpAnswer.Text(404, "not found\n");
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        listener.Dispose();
        try
        {
            loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }

        stop.Dispose();
    }
}
