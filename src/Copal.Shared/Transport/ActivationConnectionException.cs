using System.Net;

namespace Copal.Transport;

/// <summary>
/// A data-path connection failed: the peer sent bytes that are not a valid frame, closed the
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
}
