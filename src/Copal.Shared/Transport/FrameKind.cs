namespace Copal.Transport;

/// <summary>What an <see cref="ActivationFrame"/> carries. The numeric values are the wire codes.</summary>
public enum FrameKind : byte
{
    /// <summary>Activations of a calibration micro-batch.</summary>
    Calibration = 1,

    /// <summary>Activations of an evaluation micro-batch (optionally with target token ids).</summary>
    Evaluation = 2,

    /// <summary>No more frames of this stream follow; usually carries no tensor.</summary>
    EndOfStream = 3,

    /// <summary>A pipeline command (JSON in the tag), in order with the data it governs.</summary>
    Command = 4,
}
