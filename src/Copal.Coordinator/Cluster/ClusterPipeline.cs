using System.Diagnostics;
using System.Threading.Channels;
using Akka.Actor;
using Copal.Cluster;
using Copal.Evaluation;
using Copal.Model;
using Copal.Pipeline;
using Copal.Planning;
using Copal.Pruning;
using Copal.Stages;
using Copal.Transport;
using Serilog;
using static TorchSharp.torch;

namespace Copal.Coordinator.Cluster;

/// <summary>
/// The pipeline over cluster nodes, seen from the coordinator: control messages go through
/// Akka, activations through the TCP data path into the first node, and results come back
/// from the nodes as reports. The coordinator keeps the embedding; the last node the lm_head.
/// </summary>
public sealed class ClusterPipeline : IPruningPipeline
{
    private readonly LlamaModel model;
    private readonly ComputeOptions compute;
    private readonly IReadOnlyList<(RegisteredNode Node, ShardPlan Shard)> shards;
    private readonly ClusterLimits limits;
    private readonly ChannelReader<object> inbox;
    private readonly IActorRef inboxActor;
    private readonly ModelHead head;
    private readonly string runId;
    private readonly long epoch;
    private readonly DataPathTls? dataTls;
    private readonly IActorRef registry;
    private ActivationSender? first;
    private StageAssignment? stage;
    private long sequence;
    private int inFlight;

    public ClusterPipeline(ActorSystem system, LlamaModel model, PruningSettings settings, ComputeOptions compute, Plan plan, IReadOnlyList<RegisteredNode> nodes, ClusterLimits limits, PipelineRun run, DataPathTls? dataTls, IActorRef registry)
    {
        this.dataTls = dataTls;
        this.registry = registry;
        this.model = model;
        this.compute = compute;
        this.limits = limits;
        runId = run.RunId;
        epoch = run.Epoch;
        shards = plan.Shards.Select(s => (nodes.Single(n => n.NodeId == s.NodeId), s)).ToList();
        var channel = Channel.CreateUnbounded<object>();
        inbox = channel.Reader;
        inboxActor = system.ActorOf(NodeInbox.Props(channel.Writer, nodes));
        head = model.LoadHead(compute.DType);
        Assign(settings);
    }

    /// <summary>The plan this pipeline runs: each node's layers and the memory planned for it.</summary>
    public IReadOnlyList<ShardPlan> Plan => shards.Select(s => s.Shard).ToList();

    /// <summary>Activation bytes the coordinator sent into the pipeline.</summary>
    public long BytesSent { get; private set; }

    /// <summary>Per node and stage: busy and idle seconds and activation bytes forwarded.</summary>
    public List<ShardDone> NodeActivity { get; } = new();

    private void Assign(PruningSettings settings)
    {
        var settingsJson = CopalJson.Serialize(settings);
        var computeJson = CopalJson.Serialize(compute);
        using var abandon = new CancellationTokenSource();
        var replies = new List<Task<object>>();

        // Link i leads into shard i; the coordinator is the upstream of the first.
        var links = shards.Select(_ => LinkTicket.Draw(epoch)).ToList();
        for (var i = 0; i < shards.Count; i++)
        {
            var (node, shard) = shards[i];
            var next = i + 1 < shards.Count ? shards[i + 1].Node.Registration : null;
            var assign = new AssignShard(
                runId, epoch, shard.FirstLayer, shard.LastLayer, Path.GetFullPath(model.Directory), settingsJson, computeJson,
                next?.DataHost, next?.DataPort ?? 0, links[i].Key, next is null ? null : links[i + 1].Key, inboxActor);
            replies.Add(node.Actor.Ask<object>(assign, abandon.Token));
        }

        AwaitReplies(Task.WhenAll(replies), abandon, () => shards.Where((_, i) => !replies[i].IsCompletedSuccessfully).Select(s => s.Node.NodeId).ToList());

        foreach (var reply in replies)
        {
            if (reply.GetAwaiter().GetResult() is NodeFailed failed)
            {
                throw new ClusterRunException($"node {failed.NodeId} refused its shard: {failed.Reason}");
            }
        }

        var head0 = shards[0].Node.Registration;
        try
        {
            first = Blocking.Wait(() => ActivationSender.ConnectAsync(head0.DataHost, head0.DataPort, links[0], dataTls, limits.NodeTimeout));
        }
        catch (TimeoutException e)
        {
            throw Failed($"cannot reach the data port of {shards[0].Node.NodeId}: {e.Message}", shards[0].Node.NodeId);
        }
        Log.Information("Pipeline ready: {Shards}", string.Join(", ", shards.Select(s => $"{s.Node.NodeId}: layers {s.Shard.FirstLayer}-{s.Shard.LastLayer}")));
    }

    public StageSchedule ScheduleFor(Propagation propagation) =>
        propagation == Propagation.Dense ? StageSchedule.Pipeline : StageSchedule.Wave;

    public void BeginStage(StageAssignment assignment)
    {
        stage = assignment with { Epoch = epoch };
        sequence = 0;
        inFlight = 0;
        Send(Command(new PipelineCommand(PipelineCommand.BeginStage, stage)));
    }

    public void Calibrate(long firstSample, Tensor hidden)
    {
        var current = stage ?? throw new InvalidOperationException("no stage in progress");
        if (current.Schedule == StageSchedule.Pipeline)
        {
            // Back-pressure: the last node reports each micro-batch it has finished.
            while (inFlight >= limits.InFlight)
            {
                Await<MicroBatchDone>("a calibration micro-batch to leave the pipeline", m => m.Epoch == epoch && m.Stage == current.Stage);
                inFlight--;
            }
        }

        using (hidden)
        {
            Send(new ActivationFrame(epoch, current.Stage, FrameKind.Calibration, sequence++, firstSample, current.Dataset, hidden.alias()));
        }

        inFlight++;
    }

    public IReadOnlyList<ShardReport> FinishStage(IProgress<WorkProgress>? progress)
    {
        var current = stage ?? throw new InvalidOperationException("no stage in progress");
        Send(ActivationFrame.EndOfStream(epoch, current.Stage, sequence, current.Dataset));
        var reports = new List<ShardReport>();
        var task = $"stage {current.Stage} {current.Dataset}";
        while (reports.Count < shards.Count)
        {
            var done = Await<ShardDone>("every node to write its shard", m => m.Epoch == epoch && m.Stage == current.Stage);
            reports.Add(CopalJson.Deserialize<ShardReport>(done.ReportJson));
            NodeActivity.Add(done);
            progress?.Report(new WorkProgress(task, reports.Count, shards.Count));
        }

        stage = null;
        return reports.OrderBy(r => r.FirstLayer).ToList();
    }

    public PerplexityResult Evaluate(string? checkpoint, string dataset, int[] tokens, int seqLen, int? maxWindows, IProgress<WorkProgress>? progress)
    {
        using var batches = new EvaluationBatches(dataset, tokens, seqLen, maxWindows, compute.BatchSize);
        Send(Command(new PipelineCommand(PipelineCommand.BeginEvaluation, Checkpoint: checkpoint is null ? null : Path.GetFullPath(checkpoint))));
        var received = 0;
        var task = $"eval {dataset}";
        void Receive()
        {
            var done = Await<EvaluationDone>("an evaluation micro-batch to leave the pipeline", m => m.Epoch == epoch);
            batches.Add((int)done.Sequence, done.NllSum);
            progress?.Report(new WorkProgress(task, ++received, batches.Count));
        }

        for (var i = 0; i < batches.Count; i++)
        {
            if (i - received >= limits.InFlight)
            {
                Receive();
            }

            using var scope = NewDisposeScope();
            var (start, count) = batches[i];
            var windows = batches.Windows.narrow(0, start, count).contiguous();
            var hidden = head.Embed(windows);
            Send(new ActivationFrame(epoch, 0, FrameKind.Evaluation, i, start, dataset, hidden.alias(), windows.alias()));
        }

        while (received < batches.Count)
        {
            Receive();
        }

        Send(Command(new PipelineCommand(PipelineCommand.EndEvaluation)));
        return batches.Result();
    }

    private ActivationFrame Command(PipelineCommand command) =>
        new(epoch, stage?.Stage ?? 0, FrameKind.Command, -1, 0, command.ToJson());

    private void Send(ActivationFrame frame)
    {
        using (frame)
        {
            BytesSent += frame.PayloadBytes();
            try
            {
                Blocking.Wait(() => first!.SendAsync(frame));
            }
            catch (IOException e)
            {
                throw Failed($"the data path to {shards[0].Node.NodeId} broke: {e.Message}", shards[0].Node.NodeId);
            }
        }
    }

    /// <summary>Waits for the next matching report; a node failure or silence ends the run with its reason.</summary>
    private T Await<T>(string what, Func<T, bool> matches)
    {
        var waited = Stopwatch.StartNew();
        using var abandon = new CancellationTokenSource();
        while (true)
        {
            var read = inbox.ReadAsync(abandon.Token).AsTask();
            if (!Blocking.Completes(read, limits.NodeTimeout - waited.Elapsed))
            {
                abandon.Cancel();
                throw new ClusterRunException($"no node answered within {limits.NodeTimeout} while waiting for {what}");
            }

            var message = read.GetAwaiter().GetResult();
            switch (message)
            {
                case T t when matches(t):
                    return t;
                case NodeFailed { DiskFull: true } full when full.Epoch == epoch:
                    throw DiskFull.Reported(full.Reason);
                case NodeFailed failed when failed.Epoch == epoch:
                    throw Failed($"node {failed.NodeId} failed: {failed.Reason}", failed.DownstreamBroke ? After(failed.NodeId) : null);
                case NodeLost lost:
                    throw Failed($"node {lost.NodeId} was lost", lost.NodeId);
                default:
                    Log.Debug("Ignoring {Message} while waiting for {What}", message, what);
                    break;
            }
        }
    }

    /// <summary>
    /// Waits for every node's answer to its assignment, but no longer than the failure detector
    /// needs: a node it stops hearing (or that is lost) fails the wait at once.
    /// </summary>
    private void AwaitReplies(Task replies, CancellationTokenSource abandon, Func<IReadOnlyList<string>> silent)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            using var stopReading = new CancellationTokenSource();
            var read = inbox.ReadAsync(stopReading.Token).AsTask();
            if (!Blocking.Completes(Task.WhenAny(replies, read), limits.NodeTimeout - waited.Elapsed))
            {
                abandon.Cancel();
                var waiting = silent();
                throw Failed($"node {string.Join(", ", waiting)} did not accept its shard within {limits.NodeTimeout}", waiting.FirstOrDefault());
            }

            if (!read.IsCompleted)
            {
                stopReading.Cancel();
            }

            // A read that completed despite the cancel took its message: it is looked at all the same.
            if (read.IsCompletedSuccessfully)
            {
                switch (read.Result)
                {
                    case NodeUnreachable unreachable:
                        abandon.Cancel();
                        throw Failed($"node {unreachable.NodeId} became unreachable before accepting its shard", unreachable.NodeId);
                    case NodeLost lost:
                        abandon.Cancel();
                        throw Failed($"node {lost.NodeId} was lost before accepting its shard", lost.NodeId);
                    case var other:
                        Log.Debug("Ignoring {Message} while assigning shards", other);
                        break;
                }
            }

            if (replies.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>The run's failure; a node suspected of causing it is left out of the next plans.</summary>
    private ClusterRunException Failed(string message, string? suspect)
    {
        if (suspect is not null)
        {
            registry.Tell(new SuspectNode(suspect));
        }

        return new ClusterRunException(message);
    }

    /// <summary>The node after <paramref name="nodeId"/> in the pipeline, if any.</summary>
    private string? After(string nodeId) =>
        shards.SkipWhile(s => s.Node.NodeId != nodeId).Skip(1).Select(s => s.Node.NodeId).FirstOrDefault();

    public void Dispose()
    {
        foreach (var (node, _) in shards)
        {
            node.Actor.Tell(new ReleaseShard("run"));
        }

        first?.Dispose();
        head.Dispose();
        inboxActor.Tell(PoisonPill.Instance);
    }
}
