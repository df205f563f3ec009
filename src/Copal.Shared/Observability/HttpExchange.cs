using System.Net.Sockets;
using System.Text;

namespace Copal.Observability;

/// <summary>A request's method and path, as read from its request line.</summary>
internal sealed record HttpRequestLine(string Method, string Path);

/// <summary>An answer: status code, media type and body.</summary>
internal sealed record HttpAnswer(int Code, string MediaType, byte[] Body)
{
    public static HttpAnswer Text(int code, string text, string mediaType = "text/plain") =>
        new(code, mediaType + "; charset=utf-8", Encoding.UTF8.GetBytes(text));
}

/// <summary>
/// One HTTP/1.1 exchange on an accepted connection: reads the request head, writes one answer and
/// closes (<c>Connection: close</c>). Enough for Prometheus scrapes and kubelet probes, which
/// send bodiless GETs.
/// </summary>
internal static class HttpExchange
{
    /// <summary>Longest request head read; probes and scrapes send a few hundred bytes.</summary>
    public const int MaxHeadBytes = 8192;

    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();

    /// <summary>The request line, or null when the head is malformed or longer than <see cref="MaxHeadBytes"/>.</summary>
    public static async Task<HttpRequestLine?> ReadRequestAsync(Stream stream, CancellationToken token)
    {
        var head = new byte[MaxHeadBytes];
        var length = 0;
        while (head.AsSpan(0, length).IndexOf(HeadEnd) < 0)
        {
            if (length == head.Length)
            {
                return null;
            }

            var read = await stream.ReadAsync(head.AsMemory(length), token);
            if (read == 0)
            {
                return null;
            }

            length += read;
        }

        // Only the request line is used; the headers are read to find where the request ends.
        var parts = Encoding.ASCII.GetString(head, 0, head.AsSpan(0, length).IndexOf("\r\n"u8)).Split(' ');
        if (parts.Length != 3 || !parts[1].StartsWith('/') || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return null;
        }

        var query = parts[1].IndexOf('?');
        return new HttpRequestLine(parts[0], query < 0 ? parts[1] : parts[1][..query]);
    }

    /// <summary>
    /// Writes <paramref name="answer"/> (headers only for HEAD), ends the sending side and reads
    /// what the client still sends until it closes: closing with unread bytes (an overlong head)
    /// would reset the connection and could discard the answer before the client reads it.
    /// </summary>
    public static async Task WriteAsync(NetworkStream stream, HttpAnswer answer, bool headOnly, CancellationToken token)
    {
        var headers = $"HTTP/1.1 {answer.Code} {Reason(answer.Code)}\r\nContent-Type: {answer.MediaType}\r\n" +
                      $"Content-Length: {answer.Body.Length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(headers), token);
        if (!headOnly)
        {
            await stream.WriteAsync(answer.Body, token);
        }

        stream.Socket.Shutdown(SocketShutdown.Send);
        var rest = new byte[4096];
        while (await stream.ReadAsync(rest, token) > 0)
        {
        }
    }

    private static string Reason(int code) => code switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Status",
    };
}
