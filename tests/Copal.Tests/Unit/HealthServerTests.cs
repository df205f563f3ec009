using System.Net;
using System.Net.Sockets;
using System.Text;
using Copal.Observability;
using Xunit;

namespace Copal.Tests;

/// <summary>The metrics/health HTTP server in this process, over real sockets.</summary>
public class HealthServerTests
{
    /// <summary>
    /// Probes that connect while the server starts (a kubelet does) must not crash it: .NET's
    /// managed HttpListener threw ArgumentNullException from Start when a connection was already
    /// waiting (dotnet/corefx#35191), which killed a node in CI. Each round's server answers too.
    /// </summary>
    [Fact]
    public async Task StartsWhileClientsAreConnecting()
    {
        for (var round = 0; round < 40; round++)
        {
            var port = TestPorts.Free();
            using var probing = new CancellationTokenSource();
            var prober = Task.Run(async () =>
            {
                while (!probing.IsCancellationRequested)
                {
                    using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    try
                    {
                        await client.ConnectAsync(IPAddress.Loopback, port);
                    }
                    catch (SocketException)
                    {
                    }
                }
            });

            await Task.Delay(5);
            using (var server = HealthServer.Start(port))
            {
                Assert.StartsWith("HTTP/1.1 200 OK\r\n", await ExchangeAsync(port, "GET /healthz HTTP/1.1\r\n\r\n"u8.ToArray()));
            }

            probing.Cancel();
            await prober;
        }
    }

    [Theory]
    [InlineData("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK", "ok\n")]
    [InlineData("GET /readyz?probe=1 HTTP/1.1\r\n\r\n", "HTTP/1.1 503 Service Unavailable", "not ready\n")]
    [InlineData("HEAD /healthz HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK", "")]
    [InlineData("POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed", "method not allowed\n")]
    [InlineData("GET /status HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK", "{\"stage\":2}")]
    [InlineData("GET /nothing HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found", "not found\n")]
    [InlineData("hello\r\n\r\n", "HTTP/1.1 400 Bad Request", "bad request\n")]
    public async Task AnswersEachRequestAndCloses(string request, string statusLine, string body)
    {
        var port = TestPorts.Free();
        using var server = HealthServer.Start(port, ready: () => false, status: () => "{\"stage\":2}");
        var answer = await ExchangeAsync(port, Encoding.ASCII.GetBytes(request));

        var split = answer.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = answer[..split].Split("\r\n");
        Assert.Equal(statusLine, head[0]);
        Assert.Contains("Connection: close", head);
        Assert.Contains($"Content-Length: {Encoding.UTF8.GetByteCount(request.StartsWith("HEAD", StringComparison.Ordinal) ? "ok\n" : body)}", head);
        Assert.Equal(body, answer[(split + 4)..]);
    }

    [Fact]
    public async Task RefusesAnOverlongHeadAndAPortInUse()
    {
        var port = TestPorts.Free();
        using var server = HealthServer.Start(port);
        var answer = await ExchangeAsync(port, Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nX: " + new string('a', 9000) + "\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", answer);

        var e = Assert.Throws<CopalInputException>(() => HealthServer.Start(port));
        Assert.Contains($"metrics port {port}", e.Message);
    }

    /// <summary>Sends <paramref name="request"/> and reads until the server closes.</summary>
    private static async Task<string> ExchangeAsync(int port, byte[] request)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, port);
        using var stream = new NetworkStream(client);
        try
        {
            await stream.WriteAsync(request);
        }
        catch (IOException)
        {
            // An overlong head is answered before all of it is sent.
        }

        using var answer = new MemoryStream();
        await stream.CopyToAsync(answer).WaitAsync(TimeSpan.FromSeconds(20));
        return Encoding.UTF8.GetString(answer.ToArray());
    }
}
