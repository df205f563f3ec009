using Copal.Observability;
using Copal.Transport;

namespace Copal.GpuNode;

/// <summary>
/// Updates the node's transport series (<see cref="CopalMetrics"/>) from the shard worker's loop;
/// the engine itself times its phases and counts tokens.
/// </summary>
internal static class NodeMetrics
{
    /// <summary>A frame was handled; <paramref name="started"/> is the Stopwatch timestamp its work began.</summary>
    public static void FrameDone(ActivationFrame frame, long started)
    {
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
        CopalMetrics.BusySeconds.Inc(seconds);
        CopalMetrics.BytesStreamed.WithLabels("in").Inc(frame.PayloadBytes());
        var kind = frame.Kind switch
        {
            FrameKind.Calibration => "calibration",
            FrameKind.Evaluation => "evaluation",
            FrameKind.EndOfStream => "end",
            _ => "command",
        };
        CopalMetrics.Frames.WithLabels(kind).Inc();
        if (frame.Kind == FrameKind.EndOfStream)
        {
            CopalMetrics.StageFinished();
        }
    }
}
