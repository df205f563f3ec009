using System.Net;

namespace Copal.Transport;

/// <summary>
/// A data-path connection failed: the peer sent bytes that are not a valid frame (or a frame
/// corrupted on the way, see <see cref="Corruption"/>), closed the
/// connection mid-frame or without sending <see cref="FrameKind.EndOfStream"/>, or the socket broke.
/// Raised by <see cref="ActivationListener.ReadAsync"/>; the listener itself keeps accepting.
/// </summary>
public sealed class ActivationConnectionException : IOException
{
    public ActivationConnectionException(string message, EndPoint? remoteEndPoint, Exception? inner = null)
        : base(message, inner)
    {
        RemoteEndPoint = remoteEndPoint;
    }

    /// <summary>The sender whose connection failed, when known.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>What failed the connection when it was a frame that did not match its checksum, else null.</summary>
    public FrameChecksumException? Corruption => InnerException as FrameChecksumException;
}
