using System.Text.Json.Nodes;
using Copal.Model;
using Copal.Pruning;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>
/// Checkpoint variants built from tiny-mix (or from seeded random weights) that must load and
/// compute exactly what LlamaForCausalLM would: shards, stored dtypes, tied heads, GQA, rope_theta,
/// an explicit head_dim, linear biases.
/// </summary>
public sealed class ModelVariantTests
{
    private const int HeadDim = 32;

    [Fact]
    public void ShardedCheckpointGivesBitIdenticalLogitsToTheSingleFile()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tensors = TestCheckpoints.ReadAll(RepoPaths.TinyModel);
        var single = TestCheckpoints.WriteModel(dir.File("single"), tensors, TestCheckpoints.TinyMixConfig());
        var sharded = TestCheckpoints.WriteModel(dir.File("sharded"), tensors, TestCheckpoints.TinyMixConfig(), shards: 3);

        Assert.False(File.Exists(Path.Combine(sharded, CheckpointReader.SingleFile)));
        Assert.True(File.Exists(Path.Combine(sharded, CheckpointReader.IndexFile)));
        Assert.Equal(3, Directory.GetFiles(sharded, "model-*-of-00003.safetensors").Length);
        using (var reader = CheckpointReader.Open(sharded))
        {
            Assert.Equal(3, reader.Tensors.Select(e => reader.FileOf(e.Name).Path).Distinct().Count());
        }

        var tokens = TestCheckpoints.FictionTokens;
        var original = TestCheckpoints.Logits(RepoPaths.TinyModel, tokens);
        var fromSingle = TestCheckpoints.Logits(single, tokens);
        var fromShards = TestCheckpoints.Logits(sharded, tokens);
        Assert.Equal([tokens.Length, 4096L], fromShards.shape);
        Assert.True(TestCheckpoints.Identical(fromSingle, original), "rewriting tiny-mix as F32 changed its logits");
        Assert.True(TestCheckpoints.Identical(fromShards, fromSingle), "sharding changed the logits");
        Assert.Equal(TestCheckpoints.Perplexity(single).NllSum, TestCheckpoints.Perplexity(sharded).NllSum);
    }

    [Theory]
    [InlineData(StorageType.F16, 0.003)]
    [InlineData(StorageType.BF16, 0.02)]
    public void HalfPrecisionStoredWeightsLoadAndStayCloseToF32(StorageType dtype, double logitTolerance)
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tensors = TestCheckpoints.ReadAll(RepoPaths.TinyModel);
        var half = TestCheckpoints.WriteModel(dir.File(dtype.ToString()), tensors, TestCheckpoints.TinyMixConfig(), dtype);

        using (var reader = CheckpointReader.Open(half))
        {
            Assert.All(reader.Tensors, e => Assert.Equal(dtype, e.DType));
        }

        Assert.True(new FileInfo(Path.Combine(half, CheckpointReader.SingleFile)).Length < new FileInfo(Path.Combine(RepoPaths.TinyModel, CheckpointReader.SingleFile)).Length * 0.6);

        var tokens = TestCheckpoints.FictionTokens;
        var reference = TestCheckpoints.Logits(RepoPaths.TinyModel, tokens);
        var logits = TestCheckpoints.Logits(half, tokens);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        var error = TestCheckpoints.RelativeError(logits, reference);
        Assert.True(error > 0, $"{dtype} weights gave exactly the F32 logits: no rounding happened");
        Assert.True(error < logitTolerance, $"{dtype} logits differ from F32 by {error:E3} (relative)");
        Assert.True(logits.argmax(1).eq(reference.argmax(1)).to_type(ScalarType.Float32).mean().item<float>() > 0.9);

        var f32 = TestCheckpoints.Perplexity(RepoPaths.TinyModel).Perplexity;
        var ppl = TestCheckpoints.Perplexity(half).Perplexity;
        Assert.True(Math.Abs(ppl - f32) <= 0.02 * f32, $"{dtype} perplexity {ppl} vs F32 {f32}");
    }

    [Fact]
    public void TiedEmbeddingsEqualAnUntiedHeadThatCopiesTheEmbedding()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tensors = TestCheckpoints.ReadAll(RepoPaths.TinyModel);
        var embedding = tensors.Single(t => t.Name == TensorNames.Embedding).Value;

        var tiedConfig = TestCheckpoints.TinyMixConfig();
        tiedConfig["tie_word_embeddings"] = true;
        var tied = TestCheckpoints.WriteModel(dir.File("tied"), tensors.Without(TensorNames.LmHead), tiedConfig);
        var untied = TestCheckpoints.WriteModel(dir.File("untied"), tensors.With(TensorNames.LmHead, embedding.clone()), TestCheckpoints.TinyMixConfig());

        using (var reader = CheckpointReader.Open(tied))
        {
            Assert.False(reader.Contains(TensorNames.LmHead));
        }

        var tokens = TestCheckpoints.FictionTokens;
        var tiedLogits = TestCheckpoints.Logits(tied, tokens);
        var untiedLogits = TestCheckpoints.Logits(untied, tokens);
        Assert.True(TestCheckpoints.Identical(tiedLogits, untiedLogits), "the tied head is not the embedding");

        // tiny-mix's own lm_head differs from its embedding, so the head really changed.
        Assert.True(TestCheckpoints.RelativeError(tiedLogits, TestCheckpoints.Logits(RepoPaths.TinyModel, tokens)) > 0.1);
    }

    [Fact]
    public void GroupedQueryAttentionEqualsMultiHeadWithRepeatedKeyValueHeads()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tensors = TestCheckpoints.ReadAll(RepoPaths.TinyModel);
        List<(string Name, Tensor Value)> gqa = tensors, mha = tensors, tiled = tensors;
        for (var layer = 0; layer < 4; layer++)
        {
            foreach (var linear in new[] { LlamaLinear.K, LlamaLinear.V })
            {
                var name = TensorNames.Linear(layer, linear);
                var w = tensors.Single(t => t.Name == name).Value;
                var h0 = w.narrow(0, 0, HeadDim);
                var h2 = w.narrow(0, 2 * HeadDim, HeadDim);
                gqa = gqa.With(name, cat([h0, h2], 0));

                // HF repeat_kv: kv head g serves query heads 2g and 2g+1.
                mha = mha.With(name, cat([h0, h0, h2, h2], 0));

                // The other plausible layout (kv head g serving query heads g and g+2) must differ.
                tiled = tiled.With(name, cat([h0, h2, h0, h2], 0));
            }
        }

        var gqaConfig = TestCheckpoints.TinyMixConfig();
        gqaConfig["num_key_value_heads"] = 2;
        var gqaDir = TestCheckpoints.WriteModel(dir.File("gqa"), gqa, gqaConfig);
        var mhaDir = TestCheckpoints.WriteModel(dir.File("mha"), mha, TestCheckpoints.TinyMixConfig());
        var tiledDir = TestCheckpoints.WriteModel(dir.File("tiled"), tiled, TestCheckpoints.TinyMixConfig());

        using (var model = LlamaModel.Open(gqaDir))
        {
            Assert.Equal(2, model.Config.NumKeyValueHeads);
            Assert.Equal([2L * HeadDim, 128], model.Weights.Entry(TensorNames.Linear(0, LlamaLinear.K)).Shape);
        }

        var tokens = TestCheckpoints.FictionTokens;
        var gqaLogits = TestCheckpoints.Logits(gqaDir, tokens);
        var mhaLogits = TestCheckpoints.Logits(mhaDir, tokens);
        var maxDiff = (gqaLogits - mhaLogits).abs().max().item<float>();
        Assert.True(maxDiff <= 1e-5, $"GQA and its MHA equivalent differ by {maxDiff}");
        Assert.True(TestCheckpoints.RelativeError(gqaLogits, TestCheckpoints.Logits(tiledDir, tokens)) > 1e-3, "the test cannot tell repeat_kv from tiling");
    }

    [Fact]
    public void RandomGqaTiedModelWithLargeRopeThetaMatchesANaiveReference()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var config = new NaiveLlama.Config(Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KvHeads: 2, Vocab: 100, Theta: 500000, Eps: 1e-5);
        var (logits, weights, tokens) = RunRandomModel(dir, config);

        // The comparison is sensitive to the settings under test: the default theta or a
        // different kv-head mapping would not pass.
        var defaultTheta = tensor(NaiveLlama.Logits(config with { Theta = 10000 }, weights, tokens), [tokens.Length, config.Vocab]);
        Assert.True(TestCheckpoints.RelativeError(logits, defaultTheta) > 1e-2);
        var tiledKv = tensor(NaiveLlama.Logits(config, weights, tokens, tiledKv: true), [tokens.Length, config.Vocab]);
        Assert.True(TestCheckpoints.RelativeError(logits, tiledKv) > 1e-2);
    }

    [Fact]
    public void RandomModelWithBiasesAndAWideHeadDimMatchesANaiveReference()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();

        // head_dim 32, not hidden / heads = 16: q_proj is [128, 64], o_proj [64, 128].
        var config = new NaiveLlama.Config(Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KvHeads: 2, Vocab: 100, Theta: 10000, Eps: 1e-6)
        {
            HeadDim = 32,
            AttentionBias = true,
            MlpBias = true,
        };
        var (logits, weights, tokens) = RunRandomModel(dir, config);
        Assert.Equal(14, weights.Count(w => w.Name.EndsWith(".bias", StringComparison.Ordinal)));

        // Without its biases the reference is far off: the engine does add them.
        var unbiased = tensor(NaiveLlama.Logits(config, weights.Where(w => !w.Name.EndsWith(".bias", StringComparison.Ordinal)).ToList(), tokens), [tokens.Length, config.Vocab]);
        Assert.True(TestCheckpoints.RelativeError(logits, unbiased) > 1e-2);
    }

    [Theory]
    [InlineData("attention_bias", "model.layers.0.self_attn.q_proj.bias")]
    [InlineData("mlp_bias", "model.layers.0.mlp.gate_proj.bias")]
    public void ABiasTheConfigPromisesMustBeInTheCheckpoint(string flag, string missing)
    {
        using var dir = new TempDir();
        var config = TestCheckpoints.TinyMixConfig();
        config[flag] = true;
        File.WriteAllText(dir.File(LlamaModel.ConfigFile), config.ToJsonString());
        File.Copy(Path.Combine(RepoPaths.TinyModel, CheckpointReader.SingleFile), dir.File(CheckpointReader.SingleFile));

        var error = Assert.Throws<CopalInputException>(() => LlamaModel.Open(dir.Path).Dispose());
        Assert.Contains($"'{missing}'", error.Message);
    }

    [Fact]
    public void StageCheckpointsCopyBiasesVerbatimAndTheStatisticLeavesThemOut()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var config = LlamaConfig.Load(Path.Combine(RepoPaths.TinyModel, LlamaModel.ConfigFile));
        var random = new Random(7);
        var biases = Enumerable.Range(0, config.NumHiddenLayers)
            .SelectMany(layer => LlamaLinear.All.Select(l => NaiveLlama.Bias(random, TensorNames.Bias(layer, l), (int)l.Shape(config)[0])))
            .Select(b => (b.Name, tensor(b.Values, b.Shape)));
        var json = TestCheckpoints.TinyMixConfig();
        json["attention_bias"] = true;
        json["mlp_bias"] = true;
        var tensors = TestCheckpoints.ReadAll(RepoPaths.TinyModel);
        var biased = TestCheckpoints.WriteModel(dir.File("biased"), tensors.Concat(biases).ToList(), json, StorageType.BF16);
        var plain = TestCheckpoints.WriteModel(dir.File("plain"), tensors, TestCheckpoints.TinyMixConfig(), StorageType.BF16);

        var settings = new PruningSettings
        {
            Method = PruningMethod.Copal,
            Strategy = Strategy.Copal,
            Propagation = Propagation.Dense,
            Mask = new MaskPolicy(0.5, MaskGroup.Row, null),
            Samples = 4,
            SeqLen = 64,
            EvalWindows = 1,
        };
        var withBiases = PruneRunner.Run(settings, dir.File("run-biased"), ["fiction"], biased).Stages.Single();
        var without = PruneRunner.Run(settings, dir.File("run-plain"), ["fiction"], plain).Stages.Single();

        var source = TensorDigests.Of(biased);
        var stage = TensorDigests.Of(withBiases.Checkpoint);
        var biasNames = source.Keys.Where(n => n.EndsWith(".bias", StringComparison.Ordinal)).ToList();
        Assert.Equal(4 * 7, biasNames.Count);
        Assert.All(biasNames, n => Assert.True(stage.TryGetValue(n, out var d) && d == source[n], $"{n} was not copied verbatim"));
        using (var reader = CheckpointReader.Open(withBiases.Checkpoint))
        {
            Assert.All(biasNames, n => Assert.Equal(StorageType.BF16, reader.Entry(n).DType));
        }

        using (var model = LlamaModel.Open(withBiases.Checkpoint))
        {
            Assert.True(model.Config.AttentionBias && model.Config.MlpBias);
        }

        Assert.True(double.IsFinite(withBiases.Perplexity.Single().Perplexity));

        // Layer 0's q/k/v read the same inputs with or without biases, and y = x W^T leaves the
        // bias out: the same masks. Downstream the biases change the inputs, so masks differ.
        foreach (var linear in new[] { LlamaLinear.Q, LlamaLinear.K, LlamaLinear.V })
        {
            var name = TensorNames.Linear(0, linear);
            Assert.True(Masks(withBiases.Checkpoint, name).eq(Masks(without.Checkpoint, name)).all().item<bool>(), $"{name}: the bias entered the statistic");
        }

        var later = TensorNames.Linear(1, LlamaLinear.Q);
        Assert.False(Masks(withBiases.Checkpoint, later).eq(Masks(without.Checkpoint, later)).all().item<bool>(), "the biases changed nothing downstream");
    }

    /// <summary>Which weights of a stage checkpoint's linear are kept.</summary>
    private static Tensor Masks(string checkpoint, string linear)
    {
        using var reader = CheckpointReader.Open(checkpoint);
        return reader.Read(linear, ScalarType.Float32).ne(0);
    }

    /// <summary>Seeded random weights for <paramref name="config"/> as a model directory, and the engine's logits of 40 random tokens.</summary>
    private static (Tensor Logits, List<NaiveLlama.Weight> Weights, long[] Tokens) RunRandomModel(TempDir dir, NaiveLlama.Config config)
    {
        var weights = NaiveLlama.RandomWeights(config, seed: 1234);
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = config.Hidden,
            ["intermediate_size"] = config.Intermediate,
            ["num_hidden_layers"] = config.Layers,
            ["num_attention_heads"] = config.Heads,
            ["num_key_value_heads"] = config.KvHeads,
            ["head_dim"] = config.HeadDim,
            ["attention_bias"] = config.AttentionBias,
            ["mlp_bias"] = config.MlpBias,
            ["vocab_size"] = config.Vocab,
            ["rope_theta"] = config.Theta,
            ["rms_norm_eps"] = config.Eps,
            ["max_position_embeddings"] = 64,
            ["tie_word_embeddings"] = true,
        };
        var tensors = weights.Select(w => (w.Name, tensor(w.Values, w.Shape))).ToList();
        var modelDir = TestCheckpoints.WriteModel(dir.File("random"), tensors, json);
        var random = new Random(99);
        var tokens = Enumerable.Range(0, 40).Select(_ => (long)random.Next(config.Vocab)).ToArray();

        var logits = TestCheckpoints.Logits(modelDir, tokens);
        var expected = tensor(NaiveLlama.Logits(config, weights, tokens), [tokens.Length, config.Vocab]);
        var error = TestCheckpoints.RelativeError(logits, expected);
        Assert.True(error <= 1e-4, $"engine and naive reference differ by {error:E3} (relative)");
        return (logits, weights, tokens);
    }

    public static TheoryData<string, string[]> BadConfigs => new()
    {
        { "missing-hidden_size", ["missing required field hidden_size"] },
        { "missing-vocab_size", ["missing required field vocab_size"] },
        { "heads-not-multiple", ["num_attention_heads 4", "num_key_value_heads 3"] },
        { "zero-layers", ["num_hidden_layers", "positive"] },
        { "rope-scaling-dynamic", ["rope_scaling type 'dynamic' is not supported"] },
        { "rope-scaling-yarn", ["rope_scaling type 'yarn' is not supported"] },
        { "rope-scaling-incomplete", ["rope_scaling (llama3)", "original_max_position_embeddings"] },
        { "bias-not-boolean", ["attention_bias must be true or false"] },
        { "not-json", ["not valid JSON"] },
        { "intermediate-mismatch", ["'model.layers.0.mlp.gate_proj.weight'", "[384, 128]", "[256, 128]"] },
        { "kv-heads-mismatch", ["'model.layers.0.self_attn.k_proj.weight'", "[128, 128]", "[64, 128]"] },
        { "vocab-mismatch", ["'model.embed_tokens.weight'", "[4096, 128]", "[4000, 128]"] },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void InvalidConfigIsRejectedWithAClearMessage(string broken, string[] expected)
    {
        using var dir = new TempDir();
        var config = TestCheckpoints.TinyMixConfig();
        switch (broken)
        {
            case "missing-hidden_size": config.Remove("hidden_size"); break;
            case "missing-vocab_size": config.Remove("vocab_size"); break;
            case "heads-not-multiple": config["num_key_value_heads"] = 3; break;
            case "zero-layers": config["num_hidden_layers"] = 0; break;
            case "rope-scaling-dynamic": config["rope_scaling"] = new JsonObject { ["type"] = "dynamic", ["factor"] = 2.0 }; break;
            case "rope-scaling-yarn": config["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0, ["original_max_position_embeddings"] = 32768 }; break;
            case "rope-scaling-incomplete": config["rope_scaling"] = new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0 }; break;
            case "bias-not-boolean": config["attention_bias"] = "yes"; break;
            case "intermediate-mismatch": config["intermediate_size"] = 256; break;
            case "kv-heads-mismatch": config["num_key_value_heads"] = 2; break;
            case "vocab-mismatch": config["vocab_size"] = 4000; break;
            case "not-json": break;
            default: throw new ArgumentException(broken);
        }

        var configPath = dir.File(LlamaModel.ConfigFile);
        File.WriteAllText(configPath, broken == "not-json" ? "{\"hidden_size\": 128," : config.ToJsonString());
        File.Copy(Path.Combine(RepoPaths.TinyModel, CheckpointReader.SingleFile), dir.File(CheckpointReader.SingleFile));

        var error = Assert.Throws<CopalInputException>(() => LlamaModel.Open(dir.Path).Dispose());
        Assert.Contains(dir.Path, error.Message);
        Assert.DoesNotContain('\n', error.Message);
        foreach (var part in expected)
        {
            Assert.Contains(part, error.Message);
        }
    }

    [Fact]
    public void UntiedConfigWithoutLmHeadIsRejected()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var tensors = TestCheckpoints.ReadAll(RepoPaths.TinyModel).Without(TensorNames.LmHead);
        var modelDir = TestCheckpoints.WriteModel(dir.File("headless"), tensors, TestCheckpoints.TinyMixConfig());

        var error = Assert.Throws<CopalInputException>(() => LlamaModel.Open(modelDir).Dispose());
        Assert.Contains(modelDir, error.Message);
        Assert.Contains("'lm_head.weight'", error.Message);
    }

    [Fact]
    public void ConfigDefaultsFollowLlamaConfig()
    {
        using var dir = new TempDir();
        var config = TestCheckpoints.TinyMixConfig();
        config.Remove("num_key_value_heads");
        config.Remove("rope_theta");
        config.Remove("tie_word_embeddings");
        File.WriteAllText(dir.File(LlamaModel.ConfigFile), config.ToJsonString());

        var loaded = LlamaConfig.Load(dir.File(LlamaModel.ConfigFile));
        Assert.Equal(4, loaded.NumKeyValueHeads);
        Assert.Equal(10000.0, loaded.RopeTheta);
        Assert.False(loaded.TieWordEmbeddings);
        Assert.Equal(32, loaded.HeadDim);
        Assert.Null(loaded.RopeScaling);
        Assert.False(loaded.AttentionBias || loaded.MlpBias);
    }
}

/// <summary>
/// An independent LLaMA forward in plain double arithmetic, written from the definitions
/// (RMSNorm, rotate-half rotary, causal softmax attention with grouped kv heads, SwiGLU).
/// </summary>
internal static class NaiveLlama
{
    public sealed record Config(int Hidden, int Intermediate, int Layers, int Heads, int KvHeads, int Vocab, double Theta, double Eps)
    {
        public int HeadDim { get; init; } = Hidden / Heads;

        public bool AttentionBias { get; init; }

        public bool MlpBias { get; init; }
    }

    public sealed record Weight(string Name, float[] Values, long[] Shape);

    /// <summary>Seeded random weights in HF order (biases as the config asks); no lm_head (the embedding is tied).</summary>
    public static List<Weight> RandomWeights(Config c, int seed)
    {
        var random = new Random(seed);
        var d = c.HeadDim;
        var weights = new List<Weight> { Matrix(random, "model.embed_tokens.weight", c.Vocab, c.Hidden, 1.0) };
        for (var l = 0; l < c.Layers; l++)
        {
            var p = $"model.layers.{l}.";
            void Linear(string module, int rows, int columns, double std, bool bias)
            {
                weights.Add(Matrix(random, p + module + ".weight", rows, columns, std));
                if (bias)
                {
                    weights.Add(Bias(random, p + module + ".bias", rows));
                }
            }

            Linear("self_attn.q_proj", c.Heads * d, c.Hidden, 0.3, c.AttentionBias);
            Linear("self_attn.k_proj", c.KvHeads * d, c.Hidden, 0.3, c.AttentionBias);
            Linear("self_attn.v_proj", c.KvHeads * d, c.Hidden, 0.2, c.AttentionBias);
            Linear("self_attn.o_proj", c.Hidden, c.Heads * d, 0.15, c.AttentionBias);
            Linear("mlp.gate_proj", c.Intermediate, c.Hidden, 0.15, c.MlpBias);
            Linear("mlp.up_proj", c.Intermediate, c.Hidden, 0.15, c.MlpBias);
            Linear("mlp.down_proj", c.Hidden, c.Intermediate, 0.1, c.MlpBias);
            weights.Add(Norm(random, p + "input_layernorm.weight", c.Hidden));
            weights.Add(Norm(random, p + "post_attention_layernorm.weight", c.Hidden));
        }

        weights.Add(Norm(random, "model.norm.weight", c.Hidden));
        return weights;
    }

    /// <summary>
    /// Logits [T * V], row-major; a linear's bias is added where <paramref name="weights"/> holds one.
    /// <paramref name="tiledKv"/> maps query head h to kv head h mod kv (wrong, for contrast).
    /// </summary>
    public static float[] Logits(Config c, List<Weight> weights, long[] tokens, bool tiledKv = false)
    {
        var w = weights.ToDictionary(x => x.Name, x => x.Values);
        int t = tokens.Length, d = c.HeadDim, group = c.Heads / c.KvHeads;
        var x = new double[t][];
        for (var i = 0; i < t; i++)
        {
            x[i] = Row(w["model.embed_tokens.weight"], (int)tokens[i], c.Hidden);
        }

        for (var l = 0; l < c.Layers; l++)
        {
            var p = $"model.layers.{l}.";
            var q = new double[t][];
            var k = new double[t][];
            var v = new double[t][];
            for (var i = 0; i < t; i++)
            {
                var n = RmsNorm(x[i], w[p + "input_layernorm.weight"], c.Eps);
                q[i] = Rope(Linear(w, p + "self_attn.q_proj", n), c.Heads, d, i, c.Theta);
                k[i] = Rope(Linear(w, p + "self_attn.k_proj", n), c.KvHeads, d, i, c.Theta);
                v[i] = Linear(w, p + "self_attn.v_proj", n);
            }

            for (var i = 0; i < t; i++)
            {
                var attended = new double[c.Heads * d];
                for (var h = 0; h < c.Heads; h++)
                {
                    var g = tiledKv ? h % c.KvHeads : h / group;
                    var scores = new double[i + 1];
                    for (var j = 0; j <= i; j++)
                    {
                        double s = 0;
                        for (var e = 0; e < d; e++)
                        {
                            s += q[i][(h * d) + e] * k[j][(g * d) + e];
                        }

                        scores[j] = s / Math.Sqrt(d);
                    }

                    var max = scores.Max();
                    var weightsOf = scores.Select(s => Math.Exp(s - max)).ToArray();
                    var total = weightsOf.Sum();
                    for (var j = 0; j <= i; j++)
                    {
                        for (var e = 0; e < d; e++)
                        {
                            attended[(h * d) + e] += weightsOf[j] / total * v[j][(g * d) + e];
                        }
                    }
                }

                var o = Linear(w, p + "self_attn.o_proj", attended);
                for (var e = 0; e < c.Hidden; e++)
                {
                    x[i][e] += o[e];
                }
            }

            for (var i = 0; i < t; i++)
            {
                var n = RmsNorm(x[i], w[p + "post_attention_layernorm.weight"], c.Eps);
                var gate = Linear(w, p + "mlp.gate_proj", n);
                var up = Linear(w, p + "mlp.up_proj", n);
                var act = gate.Select((a, e) => a / (1 + Math.Exp(-a)) * up[e]).ToArray();
                var down = Linear(w, p + "mlp.down_proj", act);
                for (var e = 0; e < c.Hidden; e++)
                {
                    x[i][e] += down[e];
                }
            }
        }

        var logits = new float[t * c.Vocab];
        for (var i = 0; i < t; i++)
        {
            var row = MatVec(w["model.embed_tokens.weight"], RmsNorm(x[i], w["model.norm.weight"], c.Eps));
            for (var e = 0; e < c.Vocab; e++)
            {
                logits[(i * c.Vocab) + e] = (float)row[e];
            }
        }

        return logits;
    }

    /// <summary>y = W x + b, b where the weights hold one.</summary>
    private static double[] Linear(Dictionary<string, float[]> w, string module, double[] x)
    {
        var y = MatVec(w[module + ".weight"], x);
        if (w.TryGetValue(module + ".bias", out var bias))
        {
            for (var o = 0; o < y.Length; o++)
            {
                y[o] += bias[o];
            }
        }

        return y;
    }

    private static double[] Row(float[] m, int row, int width) =>
        Enumerable.Range(0, width).Select(e => (double)m[(row * width) + e]).ToArray();

    /// <summary>y = W x for W stored [out, in] row-major.</summary>
    private static double[] MatVec(float[] m, double[] x)
    {
        var y = new double[m.Length / x.Length];
        for (var o = 0; o < y.Length; o++)
        {
            double s = 0;
            for (var e = 0; e < x.Length; e++)
            {
                s += m[(o * x.Length) + e] * x[e];
            }

            y[o] = s;
        }

        return y;
    }

    private static double[] RmsNorm(double[] x, float[] weight, double eps)
    {
        var scale = 1 / Math.Sqrt((x.Sum(a => a * a) / x.Length) + eps);
        return x.Select((a, e) => weight[e] * a * scale).ToArray();
    }

    /// <summary>Rotate-half rotary at position <paramref name="pos"/>, inv_freq_i = 1 / theta^(2i/d).</summary>
    private static double[] Rope(double[] x, int heads, int d, int pos, double theta)
    {
        var y = new double[x.Length];
        var half = d / 2;
        for (var h = 0; h < heads; h++)
        {
            for (var i = 0; i < half; i++)
            {
                var angle = pos / Math.Pow(theta, 2.0 * i / d);
                double cos = Math.Cos(angle), sin = Math.Sin(angle);
                double a = x[(h * d) + i], b = x[(h * d) + i + half];
                y[(h * d) + i] = (a * cos) - (b * sin);
                y[(h * d) + i + half] = (b * cos) + (a * sin);
            }
        }

        return y;
    }

    private static Weight Matrix(Random random, string name, int rows, int columns, double std) =>
        new(name, Normal(random, rows * columns, 0, std), [rows, columns]);

    public static Weight Bias(Random random, string name, int size) =>
        new(name, Normal(random, size, 0, 0.3), [size]);

    private static Weight Norm(Random random, string name, int size) =>
        new(name, Normal(random, size, 1, 0.1), [size]);

    private static float[] Normal(Random random, int count, double mean, double std) =>
        Enumerable.Range(0, count).Select(_ =>
        {
            var u = 1 - random.NextDouble();
            return (float)(mean + (std * Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * random.NextDouble())));
        }).ToArray();
}
