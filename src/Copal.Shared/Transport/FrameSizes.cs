namespace Copal.Transport;

public static class FrameSizes
{
    /// <summary>Tensor bytes a frame carries (what the data path moves, header and checksum aside).</summary>
    public static long PayloadBytes(this ActivationFrame frame) =>
        ((frame.Payload?.NumberOfElements ?? 0) * (frame.Payload?.ElementSize ?? 0))
        + ((frame.Targets?.NumberOfElements ?? 0) * (frame.Targets?.ElementSize ?? 0));
}
