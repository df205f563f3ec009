using static TorchSharp.torch;

namespace Copal.Transport;

/// <summary>
/// One message on the activation data path: routing fields plus up to two CPU tensors.
/// </summary>
/// <remarks>
/// Ownership: a frame owns its tensors, and <see cref="Dispose"/> disposes them.
/// <list type="bullet">
/// <item>Sending: <see cref="ActivationSender.SendAsync"/> never disposes or modifies the frame; the
/// caller keeps ownership and must keep the tensors alive and unchanged until the send completes.</item>
/// <item>Receiving: every frame returned by <see cref="ActivationListener"/> holds fresh tensors
/// that the consumer owns and must dispose (dispose the frame, or detach the tensors and dispose
/// them yourself).</item>
/// </list>
/// </remarks>
public sealed class ActivationFrame : IDisposable
{
    /// <summary>Creates a frame. Tensors must be CPU, contiguous, Float32/BFloat16/Float16/Int64, at most 2 GiB each.</summary>
    /// <param name="targets">An optional second tensor (e.g. target token ids); requires <paramref name="payload"/>.</param>
    public ActivationFrame(long runEpoch, int stage, FrameKind kind, long sequence, long firstSample, string tag, Tensor? payload = null, Tensor? targets = null)
    {
        ArgumentNullException.ThrowIfNull(tag);
        if (targets is not null && payload is null)
        {
            throw new ArgumentException("a frame with targets must also have a payload", nameof(targets));
        }

        if (payload is not null)
        {
            ActivationWire.CheckTensor(payload, nameof(payload));
        }

        if (targets is not null)
        {
            ActivationWire.CheckTensor(targets, nameof(targets));
        }

        RunEpoch = runEpoch;
        Stage = stage;
        Kind = kind;
        Sequence = sequence;
        FirstSample = firstSample;
        Tag = tag;
        Payload = payload;
        Targets = targets;
    }

    /// <summary>Incremented by the coordinator whenever it restarts a stage; frames of an older epoch are stale.</summary>
    public long RunEpoch { get; }

    /// <summary>The pipeline stage the frame is addressed to (or comes from; the caller's convention).</summary>
    public int Stage { get; }

    public FrameKind Kind { get; }

    /// <summary>Micro-batch index.</summary>
    public long Sequence { get; }

    /// <summary>Index of the first sample of the micro-batch.</summary>
    public long FirstSample { get; }

    /// <summary>Free text, e.g. the dataset name (at most 65535 UTF-8 bytes).</summary>
    public string Tag { get; }

    /// <summary>The activations, or null (e.g. for <see cref="FrameKind.EndOfStream"/>).</summary>
    public Tensor? Payload { get; }

    /// <summary>An optional second tensor, e.g. target token ids for evaluation.</summary>
    public Tensor? Targets { get; }

    /// <summary>Creates an <see cref="FrameKind.EndOfStream"/> frame without tensors.</summary>
    public static ActivationFrame EndOfStream(long runEpoch, int stage, long sequence, string tag = "") =>
        new(runEpoch, stage, FrameKind.EndOfStream, sequence, 0, tag);

    /// <summary>Disposes the frame's tensors.</summary>
    public void Dispose()
    {
        Payload?.Dispose();
        Targets?.Dispose();
    }

    public override string ToString() =>
        $"{Kind} epoch {RunEpoch} stage {Stage} seq {Sequence} first {FirstSample} '{Tag}'" +
        (Payload is null ? string.Empty : $" payload {Payload.dtype}[{string.Join(", ", Payload.shape)}]") +
        (Targets is null ? string.Empty : $" targets {Targets.dtype}[{string.Join(", ", Targets.shape)}]");
}
