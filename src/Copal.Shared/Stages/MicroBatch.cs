using static TorchSharp.torch;

namespace Copal.Stages;

/// <summary>Hidden states [b, L, H] of calibration samples FirstSample .. FirstSample + b - 1.</summary>
public sealed record MicroBatch(long FirstSample, Tensor Hidden) : IDisposable
{
    public void Dispose() => Hidden.Dispose();
}
