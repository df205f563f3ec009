namespace Copal.Transport;

/// <summary>
/// A frame arrived whole but its bytes do not match the checksum its sender computed: it was
/// corrupted on the way, and its tensors are dropped unused.
/// </summary>
public sealed class FrameChecksumException(string message, long runEpoch) : IOException(message)
{
    /// <summary>The epoch its header claims: a corrupted frame of an abandoned attempt concerns nobody.</summary>
    public long RunEpoch { get; } = runEpoch;
}
