using Copal.Observability;
using Copal.Transport;

namespace Copal.GpuNode;

/// <summary>Updates the node's Prometheus series (<see cref="CopalMetrics"/>) from the shard worker's loop.</summary>
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
        if (frame.Kind is FrameKind.Calibration or FrameKind.Evaluation && frame.Payload is { } payload && payload.dim() >= 2)
        {
            var tokens = payload.shape[0] * payload.shape[1];
            CopalMetrics.Tokens.Inc(tokens);
            if (seconds > 0)
            {
                CopalMetrics.TokensPerSecond.Set(tokens / seconds);
            }

            CopalMetrics.PhaseSeconds.WithLabels(frame.Kind == FrameKind.Calibration ? "forward" : "evaluate").Inc(seconds);
        }
        else if (frame.Kind == FrameKind.EndOfStream)
        {
            // The end of a stage's input: importance and mask selection run then (and, in the wave schedule, the forward).
            CopalMetrics.PhaseSeconds.WithLabels("mask").Inc(seconds);
            CopalMetrics.StagesCompleted.Inc();
            CopalMetrics.StageProgress.Set(1);
        }
    }

    public static void StageBegun(int stage)
    {
        CopalMetrics.Stage.Set(stage);
        CopalMetrics.StageProgress.Set(0);
        LogFields.Stage = stage;
    }
}
