using Akka.Actor;
using Akka.TestKit.Xunit2;
using Copal.Cluster;
using Copal.Coordinator.Cluster;
using Copal.Data;
using Copal.GpuNode;
using Copal.Model;
using Copal.Pipeline;
using Copal.Planning;
using Copal.Pruning;
using Copal.Stages;
using Copal.Tokenization;
using Copal.Transport;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>
/// Actor-level tests with several ActorSystems in this process, talking over 127.0.0.1:
/// registration and planning, the stage protocol of a real node actor, and a silent node.
/// Not run beside other tests: the silent-node test starves this process's thread pool.
/// </summary>
[Collection(NotInParallel.Name)]
public class ClusterProtocolTests : TestKit
{
    public ClusterProtocolTests()
        : base(Config(Roles.Coordinator), "copal")
    {
    }

    private static Akka.Configuration.Config Config(string role) =>
        ClusterConfig.Build(new ClusterEndpoint("127.0.0.1", 0, null, [], role));

    private ActorSystem NodeSystem()
    {
        var system = ActorSystem.Create(Roles.SystemName, Config(Roles.GpuNode));
        systems.Add(system);
        return system;
    }

    private readonly List<ActorSystem> systems = new();

    protected override void AfterAll()
    {
        foreach (var s in systems)
        {
            Shutdown(s);
        }

        base.AfterAll();
    }

    [Fact]
    public void RegisteredNodesArePlannedAndTooFewNodesFailWithinTheTimeout()
    {
        var coordinator = Sys.ActorOf(Props.Create<CoordinatorActor>());
        var memories = new[] { 1L << 30, 1L << 30, 3L << 28 }; // at least a node process's runtime, buffers and one layer each
        for (var i = 0; i < memories.Length; i++)
        {
            var node = CreateTestProbe(NodeSystem());
            var remote = node.Sys.ActorSelection(coordinator.Path.ToStringWithAddress(((ExtendedActorSystem)Sys).Provider.DefaultAddress));
            remote.Tell(new RegisterNode($"node-{i}", "127.0.0.1", 1000 + i, memories[i], "cpu"), node.Ref);
            node.ExpectMsg<NodeRegistered>(TimeSpan.FromSeconds(10));
        }

        coordinator.Tell(new WaitForNodes(3, TimeSpan.FromSeconds(5)));
        var available = ExpectMsg<NodesAvailable>(TimeSpan.FromSeconds(10)).Nodes;
        Assert.Equal(["node-0", "node-1", "node-2"], available.Select(n => n.NodeId));

        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        var plan = LayerPlanner.Plan(new PlanRequest { Config = model.Config, Samples = 8, SeqLen = 64, WeightDType = StorageType.F32 }, available.Select(n => new NodeCapacity(n.NodeId, n.Registration.MemoryBytes)).ToList());
        Assert.Equal(Enumerable.Range(0, 4), plan.Shards.SelectMany(s => Enumerable.Range(s.FirstLayer, s.LayerCount)));

        var started = DateTime.UtcNow;
        coordinator.Tell(new WaitForNodes(4, TimeSpan.FromSeconds(2)));
        var failure = ExpectMsg<Status.Failure>(TimeSpan.FromSeconds(10));
        Assert.Contains("only 3 of 4 nodes", failure.Cause.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(8));
    }

    [Fact]
    public void ANodeThatNeverAnswersFailsTheRunWithinTheTimeoutEvenWithTheThreadPoolStarved()
    {
        var silent = CreateTestProbe(NodeSystem());
        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        var settings = Settings(model);
        var node = new RegisteredNode(new RegisterNode("silent", "127.0.0.1", 9, 1L << 30, "cpu"), silent.Ref);
        var plan = LayerPlanner.Plan(new PlanRequest { Config = model.Config, Samples = 4, SeqLen = 64, WeightDType = StorageType.F32 }, [new NodeCapacity("silent", 1L << 30)]);

        // Work items that block every pool thread (and the few the pool adds per second): timer
        // callbacks, which Ask timeouts rest on, would wait behind them for tens of seconds.
        using var release = new ManualResetEvent(false);
        for (var i = 0; i < 64; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(_ => release.WaitOne(), null);
        }

        var started = DateTime.UtcNow;
        ClusterRunException error;
        try
        {
            error = Assert.Throws<ClusterRunException>(() =>
                new ClusterPipeline(Sys, model, settings, ComputeOptions.Default, plan, [node], new ClusterLimits(TimeSpan.FromSeconds(2), 2), new PipelineRun("protocol-test", 1), dataTls: null, registry: ActorRefs.Nobody));
        }
        finally
        {
            release.Set();
        }

        Assert.Contains("silent", error.Message);
        Assert.Contains("within", error.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(6), $"failed after {DateTime.UtcNow - started}");
        silent.ExpectMsg<AssignShard>();
    }

    [Theory]
    [InlineData(StageSchedule.Pipeline)]
    [InlineData(StageSchedule.Wave)]
    public async Task ANodeActorServesTheStageProtocolWithTheInProcessResults(StageSchedule schedule)
    {
        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        var settings = Settings(model);
        var compute = ComputeOptions.Default with { BatchSize = 2 };
        await using var listener = new ActivationListener("127.0.0.1", 0, window: 4);
        var nodeSystem = NodeSystem();
        var registration = new RegisterNode("node-x", "127.0.0.1", listener.Port, 1L << 30, "cpu");
        // One thread more while the shard is alone (its first and last micro-batch or a wave's pass, its pruning): the results must not move.
        var threads = get_num_threads();
        var node = nodeSystem.ActorOf(NodeActor.Props(registration, listener, new ThreadShare(threads, threads + 1), dataTls: null));
        var reporter = CreateTestProbe();

        var link = LinkTicket.Draw(7);
        node.Tell(new AssignShard("run", 7, 0, 3, Path.GetFullPath(model.Directory), CopalJson.Serialize(settings), CopalJson.Serialize(compute), null, 0, link.Key, null, reporter.Ref), TestActor);
        ExpectMsg<ShardReady>(TimeSpan.FromSeconds(30));

        using var dir = new TempDir();
        var tokenizer = TokenizerFiles.Load(model);
        var tokens = TokenStream.Load(new DataDirectory(RepoPaths.Corpora), "fiction", Split.Calib, tokenizer);
        using var samples = CalibrationSampler.Sample(tokens, settings.Samples, settings.SeqLen, SamplingMode.Even, 0);
        using var head = model.LoadHead(compute.DType);

        // The in-process reference: the same shard engine, as a wave.
        var localDir = Directory.CreateDirectory(dir.File("local")).FullName;
        ShardReport expected;
        using (var local = new ShardEngine(model, new LayerRange(0, 3), settings, compute))
        {
            local.BeginStage(new StageAssignment(1, 1, "fiction", localDir, null, null, StageSchedule.Wave));
            foreach (var (start, count) in Nn.LayerwiseRunner.Batches(samples.shape[0], compute.BatchSize))
            {
                using var batch = samples.narrow(0, start, count);
                local.Calibrate(start, head.Embed(batch));
            }

            expected = local.FinishStage();
        }

        var nodeDir = Directory.CreateDirectory(dir.File("node")).FullName;
        await using var sender = await ActivationSender.ConnectAsync("127.0.0.1", listener.Port, link);
        var assignment = new StageAssignment(1, 7, "fiction", nodeDir, null, null, schedule);
        using (var begin = new ActivationFrame(7, 1, FrameKind.Command, -1, 0, new PipelineCommand(PipelineCommand.BeginStage, assignment).ToJson()))
        {
            await sender.SendAsync(begin);
        }

        // A frame of an older epoch is a leftover of an abandoned attempt: dropped, not computed.
        using (var stale = new ActivationFrame(6, 1, FrameKind.Calibration, 0, 0, "fiction", head.Embed(samples.narrow(0, 0, 2))))
        {
            await sender.SendAsync(stale);
        }

        var batches = Nn.LayerwiseRunner.Batches(samples.shape[0], compute.BatchSize).ToList();
        foreach (var ((start, count), i) in batches.Select((b, i) => (b, i)))
        {
            using var batch = samples.narrow(0, start, count);
            using var frame = new ActivationFrame(7, 1, FrameKind.Calibration, i, start, "fiction", head.Embed(batch));
            await sender.SendAsync(frame);
        }

        var ended = System.Diagnostics.Stopwatch.StartNew();
        using (var end = ActivationFrame.EndOfStream(7, 1, batches.Count, "fiction"))
        {
            await sender.SendAsync(end);
        }

        for (var i = 0; i < batches.Count; i++)
        {
            Assert.Equal(i, reporter.ExpectMsg<MicroBatchDone>(TimeSpan.FromSeconds(30)).Sequence);
        }

        var done = reporter.ExpectMsg<ShardDone>(TimeSpan.FromSeconds(60));
        // From the end of the stream to the report the node works throughout (the wave's pass, the pruning).
        var working = ended.Elapsed.TotalSeconds;
        Assert.True(done.BusySeconds >= working / 2, $"busy {done.BusySeconds:F3}s, idle {done.IdleSeconds:F3}s, {working:F3}s from the end of the stream to the report");
        var report = CopalJson.Deserialize<ShardReport>(done.ReportJson);
        Assert.Equal(expected.Weights.Sha256, report.Weights.Sha256);
        Assert.Equal(expected.Importance!.Sha256, report.Importance!.Sha256);
    }

    private static PruningSettings Settings(LlamaModel model) => new()
    {
        Method = PruningMethod.Copal,
        Strategy = Strategy.Copal,
        Propagation = Propagation.Dense,
        Mask = new MaskPolicy(0.5, MaskGroup.Row, null),
        Samples = 6,
        SeqLen = 64,
    };
}
