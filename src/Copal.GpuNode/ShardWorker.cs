using Akka.Actor;
using Copal.Cluster;
using Copal.Model;
using Copal.Pipeline;
using Copal.Pruning;
using Copal.Stages;
using Copal.Transport;
using Serilog;
using static TorchSharp.torch;

namespace Copal.GpuNode;

/// <summary>
/// Serves one assignment: reads frames from the node's data listener, runs them through the
/// shard engine, and sends results on (next node) or reports them (last node). All tensor work
/// happens on this worker's own thread, never on an actor thread. Frames of an older epoch are
/// late leftovers of an abandoned attempt and are dropped.
/// </summary>
public sealed class ShardWorker : IAsyncDisposable
{
    private readonly string nodeId;
    private readonly AssignShard assignment;
    private readonly LlamaModel model;
    private readonly ShardEngine engine;
    private readonly ComputeOptions compute;
    private readonly ThreadShare threads;
    private readonly PipelineOccupancy occupancy;
    private readonly CancellationTokenSource stop = new();
    private readonly System.Diagnostics.Stopwatch sinceStage = new();
    private ActivationSender? next;
    private Task? loop;
    private TimeSpan busy;
    private long frameStarted;
    private long bytesForwarded;
    private StageSchedule schedule;
    private bool downstreamBroke;
    private bool calibrating;

    public ShardWorker(string nodeId, AssignShard assignment, ThreadShare threads)
    {
        this.nodeId = nodeId;
        this.assignment = assignment;
        this.threads = threads;
        var settings = CopalJson.Deserialize<PruningSettings>(assignment.SettingsJson);
        compute = CopalJson.Deserialize<ComputeOptions>(assignment.ComputeJson);
        occupancy = PipelineOccupancy.Of(assignment.FirstLayer, assignment.NextHost is not null, settings.Samples, compute.BatchSize);
        model = LlamaModel.Open(assignment.ModelDirectory);
        try
        {
            engine = new ShardEngine(model, new LayerRange(assignment.FirstLayer, assignment.LastLayer), settings, compute);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public long Epoch => assignment.Epoch;

    public async Task StartAsync(ActivationListener listener, DataPathTls? tls)
    {
        if (assignment.NextHost is { } host)
        {
            var ticket = new LinkTicket(assignment.Epoch, assignment.NextKey ?? throw new InvalidOperationException("an assignment with a next node must carry the key of that link"));
            next = await ActivationSender.ConnectAsync(host, assignment.NextPort, ticket, tls, TimeSpan.FromSeconds(30), stop.Token);
        }

        loop = ComputeThread.Run($"shard {engine.Range}", () => RunAsync(listener));
    }

    private async Task RunAsync(ActivationListener listener)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                ActivationFrame frame;
                try
                {
                    frame = await listener.ReadAsync(stop.Token);
                }
                catch (ActivationConnectionException e) when (e.Corruption?.RunEpoch != assignment.Epoch)
                {
                    // An upstream of an earlier assignment went away, or corrupted a frame nobody waits
                    // for any more; the current one is checked by the coordinator through cluster
                    // membership and its timeouts. A corrupted frame of this assignment is lost data:
                    // it fails the shard below, and the coordinator retries the stage.
                    Log.Warning("Upstream connection ended: {Reason}", e.Message);
                    continue;
                }

                using var owned = frame;
                Log.Debug("Frame {Frame}", frame.ToString());
                if (frame.RunEpoch != assignment.Epoch)
                {
                    Log.Warning("Dropping {Frame}: epoch {Epoch} is not the current {Current}", frame.ToString(), frame.RunEpoch, assignment.Epoch);
                    continue;
                }

                frameStarted = System.Diagnostics.Stopwatch.GetTimestamp();
                await HandleAsync(frame);
                busy += System.Diagnostics.Stopwatch.GetElapsedTime(frameStarted);
                NodeMetrics.FrameDone(frame, frameStarted);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Log.Error(e, "Shard {Range} failed", engine.Range);
            assignment.Reporter.Tell(new NodeFailed(nodeId, assignment.Epoch, $"{nodeId} ({engine.Range}): {e.Message}", downstreamBroke, DiskFull.Cause(e) is not null));
        }
    }

    private async Task HandleAsync(ActivationFrame frame)
    {
        switch (frame.Kind)
        {
            case FrameKind.Command:
                await CommandAsync(frame);
                break;
            case FrameKind.Calibration:
                if (!calibrating)
                {
                    calibrating = true;
                    NodeFault.Enter(nodeId, NodePhase.Calibration);
                }

                var output = threads.Run(occupancy.AloneOn(schedule, frame.Sequence), () => engine.Calibrate(frame.FirstSample, frame.Payload!.alias()));
                await PassOnAsync(frame, output, null, () => assignment.Reporter.Tell(new MicroBatchDone(frame.RunEpoch, frame.Stage, frame.Sequence)));
                break;
            case FrameKind.EndOfStream:
                await EndCalibrationAsync(frame);
                break;
            case FrameKind.Evaluation:
                var hidden = engine.Evaluate(frame.Payload!);
                if (next is null)
                {
                    using (hidden)
                    {
                        assignment.Reporter.Tell(new EvaluationDone(frame.RunEpoch, frame.Sequence, engine.NllSum(hidden, frame.Targets!)));
                    }
                }
                else
                {
                    await PassOnAsync(frame, hidden, frame.Targets, null);
                }

                break;
        }
    }

    private async Task SendOnAsync(ActivationFrame frame)
    {
        bytesForwarded += frame.PayloadBytes();
        Observability.CopalMetrics.BytesStreamed.WithLabels("out").Inc(frame.PayloadBytes());
        try
        {
            await next!.SendAsync(frame, stop.Token);
        }
        catch (IOException)
        {
            downstreamBroke = true;
            throw;
        }
    }

    private async Task CommandAsync(ActivationFrame frame)
    {
        var command = PipelineCommand.FromJson(frame.Tag);
        switch (command.Kind)
        {
            case PipelineCommand.BeginStage:
                engine.BeginStage(command.Assignment!);
                calibrating = false;
                schedule = command.Assignment!.Schedule;
                Observability.CopalMetrics.StageBegun(frame.Stage);
                sinceStage.Restart();
                busy = TimeSpan.Zero;
                bytesForwarded = 0;
                break;
            case PipelineCommand.BeginEvaluation:
                NodeFault.Enter(nodeId, NodePhase.Evaluation);
                engine.BeginEvaluation(command.Checkpoint);
                break;
            case PipelineCommand.EndEvaluation:
                engine.EndEvaluation();
                break;
        }

        if (next != null)
        {
            await SendOnAsync(frame);
        }
    }

    private async Task EndCalibrationAsync(ActivationFrame frame)
    {
        // The wave schedule produces all its outputs only now; pass them on in micro-batches.
        var outputs = threads.Run(occupancy.AloneEnding(schedule), engine.EndCalibration);
        try
        {
            for (var i = 0; i < outputs.Count && next is not null; i++)
            {
                using var outFrame = new ActivationFrame(frame.RunEpoch, frame.Stage, FrameKind.Calibration, i, outputs[i].FirstSample, frame.Tag, outputs[i].Hidden.alias());
                await SendOnAsync(outFrame);
            }
        }
        finally
        {
            foreach (var output in outputs)
            {
                output.Dispose();
            }
        }

        if (next != null)
        {
            await SendOnAsync(frame);
        }

        NodeFault.Enter(nodeId, NodePhase.Pruning);
        var report = threads.Run(occupancy.AloneFinishing, engine.FinishStage);
        NodeFault.Enter(nodeId, NodePhase.Writing);
        var total = sinceStage.Elapsed.TotalSeconds;
        // This frame is still being handled: its work (a wave's whole pass, the pruning) is busy time too.
        var stageBusy = (busy + System.Diagnostics.Stopwatch.GetElapsedTime(frameStarted)).TotalSeconds;
        assignment.Reporter.Tell(new ShardDone(nodeId, frame.RunEpoch, frame.Stage, CopalJson.Serialize(report), stageBusy, Math.Max(0, total - stageBusy), bytesForwarded));
    }

    /// <summary>Sends a result to the next node, or (last node) signals completion.</summary>
    private async Task PassOnAsync(ActivationFrame frame, Tensor? output, Tensor? targets, Action? atEnd)
    {
        using (output)
        {
            if (next is null)
            {
                atEnd?.Invoke();
                return;
            }

            if (output is null)
            {
                return;
            }

            using var outFrame = new ActivationFrame(frame.RunEpoch, frame.Stage, frame.Kind, frame.Sequence, frame.FirstSample, frame.Tag, output.alias(), targets?.alias());
            await SendOnAsync(outFrame);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        if (loop != null)
        {
            try
            {
                await loop;
            }
            catch (OperationCanceledException)
            {
            }
        }

        if (next != null)
        {
            await next.DisposeAsync();
        }

        engine.Dispose();
        model.Dispose();
        stop.Dispose();
    }
}
