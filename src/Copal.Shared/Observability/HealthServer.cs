using System.Net;
using System.Text;
using Prometheus;
using Serilog;

namespace Copal.Observability;

/// <summary>
/// A small HTTP server (HttpListener, no ASP.NET) on the metrics port: <c>/metrics</c> (Prometheus
/// text format), <c>/healthz</c> (200 while the process runs: the liveness probe) and <c>/readyz</c>
/// (200 once <c>ready()</c> is true, 503 before: the readiness probe), and on a coordinator
/// <c>/status</c> (the run's state as JSON, 404 when there is none). Binds every interface.
/// </summary>
public sealed class HealthServer : IDisposable
{
    public const string MetricsPath = "/metrics";
    public const string HealthPath = "/healthz";
    public const string ReadyPath = "/readyz";
    public const string StatusPath = "/status";

    private readonly HttpListener listener = new();
    private readonly Func<bool> ready;
    private readonly Func<string?>? status;
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;

    private HealthServer(int port, Func<bool> ready, Func<string?>? status)
    {
        this.ready = ready;
        this.status = status;
        Port = port;
        listener.Prefixes.Add($"http://+:{port}/");
        listener.Start();
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
        try
        {
            var server = new HealthServer(port, ready ?? (() => true), status);
            Log.Information("Metrics and health on http://0.0.0.0:{Port}{Metrics} ({Health}, {Ready})", port, MetricsPath, HealthPath, ReadyPath);
            return server;
        }
        catch (HttpListenerException e)
        {
            throw new CopalInputException($"metrics port {port}: {e.Message}");
        }
    }

    private async Task ServeAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException e)
            {
                Log.Warning("Metrics server: {Error}", e.Message);
                continue;
            }

            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            switch (context.Request.Url?.AbsolutePath)
            {
                case MetricsPath:
                    response.StatusCode = 200;
                    response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                    using (var buffer = new MemoryStream())
                    {
                        await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(buffer, stop.Token);
                        response.ContentLength64 = buffer.Length;
                        buffer.Position = 0;
                        await buffer.CopyToAsync(response.OutputStream, stop.Token);
                    }

                    break;
                case HealthPath:
                    await WriteTextAsync(response, 200, "ok\n");
                    break;
                case ReadyPath:
                    var isReady = ready();
                    await WriteTextAsync(response, isReady ? 200 : 503, isReady ? "ready\n" : "not ready\n");
                    break;
                case StatusPath when status?.Invoke() is { } json:
                    await WriteTextAsync(response, 200, json, "application/json");
                    break;
                default:
                    await WriteTextAsync(response, 404, "not found\n");
                    break;
            }
        }
        catch (Exception e) when (e is HttpListenerException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away or the server is stopping.
        }
        finally
        {
            try
            {
                response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
            }
        }
    }

    private async Task WriteTextAsync(HttpListenerResponse response, int code, string text, string mediaType = "text/plain")
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        response.StatusCode = code;
        response.ContentType = mediaType + "; charset=utf-8";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes, stop.Token);
    }

    public void Dispose()
    {
        stop.Cancel();
        listener.Close();
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
