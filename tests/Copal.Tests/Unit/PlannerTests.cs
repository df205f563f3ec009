using System.Text.Json;
using Copal.Model;
using Copal.Planning;
using Copal.Pruning;
using Xunit;

namespace Copal.Tests;

/// <summary>The layer planner: its memory and FLOP model, its contiguous balanced splits, and `copal plan`.</summary>
public sealed class PlannerTests
{
    private static LlamaConfig Tiny => LlamaConfig.Load(Path.Combine(RepoPaths.TinyModel, LlamaModel.ConfigFile));

    private static PlanRequest TinyRequest(PruningMethod method = PruningMethod.Copal, Propagation? propagation = null)
    {
        var r = new PlanRequest { Config = Tiny, ModelName = "tiny-mix", WeightDType = StorageType.F32, Method = method };
        return propagation is { } p ? r with { Propagation = p } : r;
    }

    private static List<NodeCapacity> Nodes(params long[] bytes) => bytes.Select((b, i) => new NodeCapacity($"node-{i}", b)).ToList();

    private static void AssertCoversEveryLayerOnce(Plan plan, int layers)
    {
        Assert.Equal(0, plan.Shards[0].FirstLayer);
        Assert.Equal(layers - 1, plan.Shards[^1].LastLayer);
        foreach (var (a, b) in plan.Shards.Zip(plan.Shards.Skip(1)))
        {
            Assert.Equal(a.LastLayer + 1, b.FirstLayer);
        }

        Assert.All(plan.Shards, s => Assert.True(s.LayerCount >= 1, s.ToString()));
        Assert.Equal(layers, plan.Shards.Sum(s => s.LayerCount));
    }

    [Fact]
    public void MemoryTermsOfTinyMixMatchAHandComputation()
    {
        // hidden 128, inter 384, 4 heads of 32, 4 kv heads, vocab 4096, F32 weights; L = 256, b = 8, window 4, bf16 activations.
        var r = TinyRequest();
        Assert.Equal(256, r.SeqLen);
        const long linears = (4 * 128 * 128) + (3 * 384 * 128); // 212992
        Assert.Equal(linears, CostModel.LinearParams(r.Config));
        Assert.Equal((linears + 256) * 4, CostModel.LayerWeightBytes(r.Config, StorageType.F32));
        Assert.Equal((linears + 256) * 2, CostModel.LayerWeightBytes(r.Config, StorageType.BF16));

        Assert.Equal(linears * 4, CostModel.LayerMethodStateBytes(r.Config, PruningMethod.Copal));
        Assert.Equal(((6 * 128) + 384) * 4, CostModel.LayerMethodStateBytes(r.Config, PruningMethod.Wanda));
        Assert.Equal(((6 * 128 * 128) + (384 * 384)) * 4, CostModel.LayerMethodStateBytes(r.Config, PruningMethod.SparseGpt));
        Assert.Equal(0, CostModel.LayerMethodStateBytes(r.Config, PruningMethod.Magnitude));

        Assert.Equal(8L * 256 * 128 * 2 * (4 + 2), CostModel.StreamBufferBytes(r));
        // One layer's forward temporaries in the bf16 compute dtype: 24 hidden- and 3 intermediate-sized per token.
        Assert.Equal(8L * 256 * ((24 * 128) + (3 * 384)) * 2, CostModel.TransientBytes(r));
        Assert.Equal(0, CostModel.WaveBytes(r));
        Assert.Equal(2L * 128 * 256 * 128 * 2, CostModel.WaveBytes(TinyRequest(PruningMethod.Wanda)));
        Assert.Equal(0, CostModel.WaveBytes(TinyRequest(PruningMethod.Magnitude, Propagation.Pruned)));
        // Finishing a layer in bf16: a float32 copy of the largest linear (up/gate, 384 x 128), and the writer's pending bytes.
        Assert.Equal((384 * 128 * 4) + SafetensorsWriter.MaxPendingBytes, CostModel.FinishBytes(r));
        Assert.Equal(SafetensorsWriter.MaxPendingBytes, CostModel.FinishBytes(r with { ActivationBytes = 4 }));
        // Finishing does not get the forward's room back: both count.
        Assert.Equal((8L * 256 * 128 * 2 * (4 + 2)) + CostModel.TransientBytes(r) + (384 * 128 * 4) + SafetensorsWriter.MaxPendingBytes, CostModel.NodeBufferBytes(r));

        // lm_head in the compute dtype; fp32 logits of one micro-batch, under evaluation's chunk.
        Assert.Equal(((128 + (4096L * 128)) * 2) + (8L * 256 * 4096 * 4), CostModel.HeadBytes(r));
        var big = r with { SeqLen = 256, Config = r.Config with { VocabSize = 32000 } };
        Assert.Equal(((128 + (32000L * 128)) * 2) + (Copal.Evaluation.Perplexity.LogitChunk * 4), CostModel.HeadBytes(big));

        // FLOPs: forward 2 x params + 2 x L x hidden (causal attention) per token; copal doubles the linear part.
        var forward = (2 * linears) + (2L * 256 * 128);
        Assert.Equal(forward, CostModel.LayerForwardFlopsPerToken(r.Config, 256));
        Assert.Equal((forward + (2 * linears)) * 128 * 256, CostModel.LayerFlopsPerStage(r));
        var hessian = 2L * ((6 * 128 * 128) + (384 * 384));
        Assert.Equal(((2 * forward) + hessian) * 128 * 256, CostModel.LayerFlopsPerStage(TinyRequest(PruningMethod.SparseGpt)));
        Assert.Equal(0, CostModel.LayerFlopsPerStage(TinyRequest(PruningMethod.Magnitude)));

        var plan = LayerPlanner.Plan(r, Nodes(ByteSize.GiB, ByteSize.GiB));
        Assert.All(plan.Shards, s =>
        {
            // F32 on disk, held in the bf16 compute dtype.
            Assert.Equal(s.LayerCount * (linears + 256) * 2, s.WeightBytes);
            Assert.Equal(s.LayerCount * linears * 4, s.MethodStateBytes);
            Assert.Equal(CostModel.NodeBufferBytes(r), s.BufferBytes);
            Assert.Equal(CostModel.RuntimeBytes, s.RuntimeBytes);
            Assert.Equal(s.WeightBytes + s.MethodStateBytes + s.BufferBytes + s.RuntimeBytes + s.HeadBytes, s.TotalBytes);
        });
        Assert.Equal(128L * 256 * 128 * 2, plan.BytesPerBoundary);
        Assert.Equal(2 * plan.BytesPerBoundary, plan.BytesStreamedPerStage);
        Assert.Equal(4 * CostModel.LayerFlopsPerStage(r), plan.FlopsPerStage);
    }

    [Fact]
    public void SparseGptStateExceedsCopalsForWideInputs()
    {
        foreach (var config in new[] { Tiny, ModelPresets.Get("llama-7b"), ModelPresets.Get("llama-65b"), ModelPresets.Get("llama-3.1-405b") })
        {
            // down_proj reads the wide MLP intermediate: in x in > out x in.
            Assert.True(
                CostModel.LinearStateBytes(config, LlamaLinear.Down, PruningMethod.SparseGpt) > CostModel.LinearStateBytes(config, LlamaLinear.Down, PruningMethod.Copal));
            Assert.Equal(
                CostModel.LinearStateBytes(config, LlamaLinear.Q, PruningMethod.SparseGpt), CostModel.LinearStateBytes(config, LlamaLinear.Q, PruningMethod.Copal));
            Assert.True(
                CostModel.LayerMethodStateBytes(config, PruningMethod.SparseGpt) > CostModel.LayerMethodStateBytes(config, PruningMethod.Copal));
        }
    }

    [Fact]
    public void EveryNodeCountCoversEveryLayerExactlyOnceAndBalances()
    {
        foreach (var (request, layers) in new[] { (TinyRequest(), 4), (new PlanRequest { Config = ModelPresets.Get("llama-65b") }, 80) })
        {
            for (var k = 1; k <= layers; k++)
            {
                var plan = LayerPlanner.Plan(request, Nodes(Enumerable.Repeat(10_000 * ByteSize.GiB, k).ToArray()));
                Assert.Equal(k, plan.Shards.Count);
                AssertCoversEveryLayerOnce(plan, layers);
                var counts = plan.Shards.Select(s => s.LayerCount).ToList();
                Assert.True(counts.Max() - counts.Min() <= 1, $"{k} nodes: {string.Join(",", counts)}");

                // Ties go to earlier nodes: the last one holds the head.
                Assert.Equal(counts.OrderByDescending(c => c), counts);
            }
        }
    }

    [Fact]
    public void TheHeadIsCountedOnTheLastNodeOnly()
    {
        var r = TinyRequest();
        var plan = LayerPlanner.Plan(r, Nodes(ByteSize.GiB, ByteSize.GiB, ByteSize.GiB));
        Assert.Equal(CostModel.HeadBytes(r), plan.Shards[^1].HeadBytes);
        Assert.All(plan.Shards.SkipLast(1), s => Assert.Equal(0, s.HeadBytes));
        Assert.Equal([2, 1, 1], plan.Shards.Select(s => s.LayerCount));
    }

    [Fact]
    public void TheHeadCanForceALayerOffTheLastNode()
    {
        // Room for two layers plus buffers everywhere, but on the last node the head takes one layer's room.
        var r = TinyRequest();
        var layer = CostModel.LayerBytes(r);
        var buffers = CostModel.NodeBufferBytes(r) + CostModel.RuntimeBytes;
        var head = CostModel.HeadBytes(r);
        var plan = LayerPlanner.Plan(r, Nodes((3 * layer) + buffers, (1 * layer) + buffers + head));
        Assert.Equal([3, 1], plan.Shards.Select(s => s.LayerCount));
        Assert.All(plan.Shards, s => Assert.True(s.TotalBytes <= s.CapacityBytes));
    }

    [Fact]
    public void ASmallNodeGetsFewerLayers()
    {
        var r = new PlanRequest { Config = ModelPresets.Get("llama-65b"), ModelName = "llama-65b" };
        var plan = LayerPlanner.Plan(r, Nodes(80 * ByteSize.GiB, 40 * ByteSize.GiB, 80 * ByteSize.GiB, 80 * ByteSize.GiB, 80 * ByteSize.GiB, 80 * ByteSize.GiB, 80 * ByteSize.GiB, 80 * ByteSize.GiB, 80 * ByteSize.GiB));
        AssertCoversEveryLayerOnce(plan, 80);
        Assert.All(plan.Shards, s => Assert.True(s.TotalBytes <= s.CapacityBytes, s.ToString()));
        var small = plan.Shards[1].LayerCount;
        Assert.All(plan.Shards.Where((_, i) => i != 1), s => Assert.True(s.LayerCount > small, $"{s.NodeId}: {s.LayerCount} vs {small}"));

        // Balanced among the big nodes: the busiest node is as light as it can be.
        var big = plan.Shards.Where((_, i) => i != 1).Select(s => s.LayerCount).ToList();
        Assert.Equal((int)Math.Ceiling((80.0 - small) / 8), big.Max());
    }

    [Fact]
    public void MoreNodesThanLayersIsRefused()
    {
        var e = Assert.Throws<CopalInputException>(() => LayerPlanner.Plan(TinyRequest(), Nodes(ByteSize.GiB, ByteSize.GiB, ByteSize.GiB, ByteSize.GiB, ByteSize.GiB)));
        Assert.Contains("5 nodes", e.Message);
        Assert.Contains("only 4 layers", e.Message);
    }

    [Fact]
    public void ANodeThatCannotHoldOneLayerIsNamed()
    {
        var e = Assert.Throws<CopalInputException>(() => LayerPlanner.Plan(TinyRequest(), Nodes(ByteSize.GiB, 4 * ByteSize.MiB)));
        Assert.Contains("does not fit in memory", e.Message);
        Assert.Contains("node-1", e.Message);
        Assert.Contains("at least one layer", e.Message);
    }

    [Fact]
    public void TooLittleMemorySaysHowManyNodesAreNeeded()
    {
        var r = new PlanRequest { Config = ModelPresets.Get("llama-65b"), ModelName = "llama-65b" };
        var e = Assert.Throws<CopalInputException>(() => LayerPlanner.Plan(r, Nodes(80 * ByteSize.GiB, 80 * ByteSize.GiB)));
        Assert.StartsWith("llama-65b with copal does not fit in memory: it needs ", e.Message);
        Assert.Contains("2 nodes x 80.0 GiB = 160.0 GiB", e.Message);
        var needed = int.Parse(e.Message.Split("at least ")[1].Split(' ')[0]);

        // The hint is exact: that many nodes fit, one fewer does not.
        AssertCoversEveryLayerOnce(LayerPlanner.Plan(r, Nodes(Enumerable.Repeat(80 * ByteSize.GiB, needed).ToArray())), 80);
        Assert.Throws<CopalInputException>(() => LayerPlanner.Plan(r, Nodes(Enumerable.Repeat(80 * ByteSize.GiB, needed - 1).ToArray())));
    }

    [Fact]
    public void EstimatedTimeFollowsThePipeline()
    {
        var r = new PlanRequest { Config = ModelPresets.Get("llama-7b"), Samples = 64, MicroBatch = 8 };
        var plan = LayerPlanner.Plan(r, Nodes(80 * ByteSize.GiB, 80 * ByteSize.GiB));
        var max = plan.Shards.Max(s => (double)s.Flops);
        Assert.Equal(((max * 7) + plan.FlopsPerStage) / 8 / 100e12, plan.EstimatedSeconds(100), 9);
        Assert.Contains("pipelined over 8 micro-batches", plan.EstimateNote);

        var wave = LayerPlanner.Plan(r with { Propagation = Propagation.Pruned }, Nodes(80 * ByteSize.GiB, 80 * ByteSize.GiB));
        Assert.Equal(wave.FlopsPerStage / 50e12, wave.EstimatedSeconds(50), 9);
    }

    [Theory]
    [InlineData("80GiB", 80L << 30)]
    [InlineData("80G", 80L << 30)]
    [InlineData("80gb", 80L << 30)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("1.5TiB", 3L << 39)]
    [InlineData("2 KiB", 2048)]
    [InlineData("1073741824", 1L << 30)]
    [InlineData("100B", 100)]
    public void ByteSizesParse(string text, long bytes) => Assert.Equal(bytes, ByteSize.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("GiB")]
    [InlineData("eighty")]
    [InlineData("-1G")]
    [InlineData("80XB")]
    [InlineData("1.2.3G")]
    [InlineData("99999999999TiB")]
    public void BadByteSizesAreRefused(string text)
    {
        var e = Assert.Throws<CopalInputException>(() => ByteSize.Parse(text));
        Assert.Contains($"'{text}'", e.Message);
    }

    [Fact]
    public void ByteSizesFormatAsGiBWithOneDecimal()
    {
        Assert.Equal("80.0 GiB", ByteSize.FormatGiB(80 * ByteSize.GiB));
        Assert.Equal("0.5 GiB", ByteSize.FormatGiB(512 * ByteSize.MiB));
        Assert.Equal("389.1 GiB", ByteSize.FormatGiB((long)(389.1 * ByteSize.GiB)));
        Assert.Equal("14.0 MiB", ByteSize.Format(14_680_064));
    }

    [Fact]
    public void UnknownPresetListsThePresets()
    {
        var e = Assert.Throws<CopalInputException>(() => ModelPresets.Get("llama-4"));
        Assert.Contains("llama-4", e.Message);
        Assert.All(ModelPresets.Names, n => Assert.Contains(n, e.Message));
        Assert.Equal(10, ModelPresets.Names.Count);
        var l3 = ModelPresets.Get("llama-3-70b");
        Assert.Equal((80, 8192, 28672, 64, 8, 128256, 8192, 500000.0), (l3.NumHiddenLayers, l3.HiddenSize, l3.IntermediateSize, l3.NumAttentionHeads, l3.NumKeyValueHeads, l3.VocabSize, l3.MaxPositionEmbeddings, l3.RopeTheta));
    }

    [Theory]
    [InlineData("llama-3.1-8b", 32, 4096, 14336, 32)]
    [InlineData("llama-3.1-70b", 80, 8192, 28672, 64)]
    [InlineData("llama-3.1-405b", 126, 16384, 53248, 128)]
    public void Llama31PresetsAreTheirHuggingFaceConfigs(string name, int layers, int hidden, int inter, int heads)
    {
        var c = ModelPresets.Get(name);
        Assert.Equal((layers, hidden, inter, heads, 8, 128, 128256, 131072), (c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.VocabSize, c.MaxPositionEmbeddings));
        Assert.Equal((500000.0, 1e-5, false, false, false), (c.RopeTheta, c.RmsNormEps, c.TieWordEmbeddings, c.AttentionBias, c.MlpBias));
        Assert.Equal(new Llama3RopeScaling(8, 1, 4, 8192), c.RopeScaling);
        Assert.Equal(2048, new PlanRequest { Config = c }.SeqLen);
    }

    [Fact]
    public void BiasesAndAnExplicitHeadDimEnterTheCostModel()
    {
        // tiny-mix with 4 heads of 16 (not hidden / heads = 32) and every bias: q/k/v [64, 128], o [128, 64].
        var c = Tiny with { HeadDim = 16, AttentionBias = true, MlpBias = true };
        const long linears = (3 * 64 * 128) + (128 * 64) + (3 * 384 * 128);
        const long biases = (3 * 64) + 128 + (2 * 384) + 128;
        Assert.Equal(linears, CostModel.LinearParams(c));
        Assert.Equal(biases, CostModel.BiasParams(c));
        Assert.Equal(linears + biases + 256, CostModel.LayerParams(c));
        Assert.Equal((linears + biases + 256) * 2, CostModel.LayerWeightBytes(c, StorageType.BF16));
        Assert.Equal(0, CostModel.BiasParams(Tiny));
        Assert.Equal(linears * 4, CostModel.LayerMethodStateBytes(c, PruningMethod.Copal));
        Assert.Equal((2 * linears) + (2L * 256 * 4 * 16), CostModel.LayerForwardFlopsPerToken(c, 256));
    }

    [Fact]
    public void PlanCommandFitsLlama65bOnEight80GiBNodes()
    {
        using var dir = new TempDir();
        var report = dir.File("plan.json");

        var result = CopalCli.Run("plan", "--preset", "llama-65b", "--nodes", "8", "--memory", "80GiB", "--report", report);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("node-7", result.Stdout);
        Assert.Contains("TFLOP/s per node", result.Stdout);
        using var json = JsonDocument.Parse(File.ReadAllBytes(report));
        var nodes = json.RootElement.GetProperty("nodes").EnumerateArray().ToList();
        Assert.Equal(8, nodes.Count);
        var covered = nodes.SelectMany(n => Enumerable.Range(n.GetProperty("first_layer").GetInt32(), n.GetProperty("layers").GetInt32())).ToList();
        Assert.Equal(Enumerable.Range(0, 80), covered);
        Assert.All(nodes, n => Assert.True(n.GetProperty("total_bytes").GetInt64() <= 80L << 30));
        var counts = nodes.Select(n => n.GetProperty("layers").GetInt32()).ToList();
        Assert.True(counts.Max() - counts.Min() <= 1, string.Join(",", counts));
        Assert.True(nodes[^1].GetProperty("head_bytes").GetInt64() > 0);

        // 65,285,660,672 parameters at 2 bytes; a bit per linear weight; COPAL's float32 W* per linear weight.
        var disk = json.RootElement.GetProperty("disk_per_stage");
        Assert.Equal(130_571_321_344, disk.GetProperty("weight_bytes").GetInt64());
        Assert.Equal(8_095_006_720, disk.GetProperty("mask_bytes").GetInt64());
        Assert.Equal(259_040_215_040, disk.GetProperty("accumulator_bytes").GetInt64());
        Assert.Equal(130_571_321_344 + 259_040_215_040, disk.GetProperty("full").GetInt64());
        Assert.Equal(8_095_006_720 + 259_040_215_040, disk.GetProperty("masks").GetInt64());
        Assert.Contains("disk per stage", result.Stdout);
    }

    [Fact]
    public void SparseGptStagesCannotBeStoredAsMasks()
    {
        var disk = StageDisk.Of(ModelPresets.Get("llama-65b"), ModelPresets.WeightDType, PruningMethod.SparseGpt);
        Assert.Null(disk.MaskBytes);
        Assert.Null(disk.MasksBytes);
        Assert.Equal(disk.ModelBytes + disk.AccumulatorBytes, disk.FullBytes);
    }

    [Fact]
    public void PlanCommandRefusesLlama65bOnTwoNodes()
    {
        var result = CopalCli.Run("plan", "--preset", "llama-65b", "--nodes", "2", "--memory", "80GiB");

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("memory", line);
        Assert.Contains("2 nodes x 80.0 GiB", line);
        Assert.Contains("nodes of 80.0 GiB are needed", line);
    }

    [Fact]
    public void PlanCommandReadsACheckpoint()
    {
        using var dir = new TempDir();
        var report = dir.File("plan.json");

        var result = CopalCli.Run("plan", "--model", RepoPaths.TinyModel, "--nodes", "3", "--memory", "1GiB", "--report", report);

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var json = JsonDocument.Parse(File.ReadAllBytes(report));
        var root = json.RootElement;
        Assert.Equal("tiny-mix", root.GetProperty("model").GetString());
        Assert.Equal("F32", root.GetProperty("weight_dtype").GetString());
        Assert.Equal(256, root.GetProperty("seqlen").GetInt32());
        Assert.Equal([2, 1, 1], root.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("layers").GetInt32()));
    }

    [Theory]
    [InlineData("unknown preset 'llama-4' (llama-7b", "--preset", "llama-4", "--nodes", "2", "--memory", "80GiB")]
    [InlineData("not a memory size", "--preset", "llama-7b", "--nodes", "2", "--memory", "lots")]
    [InlineData("--memory gives 3 sizes for 2 nodes", "--preset", "llama-7b", "--nodes", "2", "--memory", "80G,80G,80G")]
    [InlineData("either --model or --preset", "--preset", "llama-7b", "--model", "x", "--nodes", "2", "--memory", "80GiB")]
    [InlineData("--propagate must be dense or pruned", "--preset", "llama-7b", "--nodes", "2", "--memory", "80GiB", "--propagate", "sideways")]
    [InlineData("only 32 layers", "--preset", "llama-7b", "--nodes", "33", "--memory", "80GiB")]
    public void PlanCommandRefusesBadInputInOneLine(string mention, params string[] args)
    {
        var result = CopalCli.Run(["plan", .. args]);

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(mention, line);
    }
}
