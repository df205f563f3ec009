using System.Globalization;
using Copal.Cluster;
using Serilog;

namespace Copal.Transport;

/// <summary>
/// Fault injection for the tests of the data path's checksum (<see cref="EnvironmentVariables.FaultFlipBit"/>):
/// with N set, the N-th frame with tensor bytes this process sends has one bit flipped on the
/// wire, after its checksum was computed, as a bad link or NIC would. Once per process, so the
/// retried stage runs clean.
/// </summary>
internal static class PayloadBitFlip
{
    private static readonly Lazy<long?> Target = new(() => Parse(EnvironmentVariables.Get(EnvironmentVariables.FaultFlipBit)));
    private static long framesWithTensors;

    /// <summary>The bit of the frame's tensor bytes to flip (the lowest of the middle byte), or null to send it as it is.</summary>
    public static long? For(ActivationFrame frame)
    {
        var bytes = frame.PayloadBytes();
        if (Target.Value is not { } target || bytes == 0 || Interlocked.Increment(ref framesWithTensors) != target)
        {
            return null;
        }

        Log.Warning("Fault injection ({Variable:l}={Target}): flipping one bit of {Frame} after its checksum", EnvironmentVariables.FaultFlipBit, target, frame.ToString());
        return bytes / 2 * 8;
    }

    private static long? Parse(string? value) => value switch
    {
        null => null,
        _ when long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 => n,
        _ => throw new CopalInputException($"{EnvironmentVariables.FaultFlipBit}={value}: expected the number (from 1) of the frame to corrupt"),
    };
}
