using System.Text.Json.Nodes;
using Copal.Model;
using Copal.Nn;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>rope_scaling as config.json gives it, and the inverse frequencies it makes, against the protocol's formulas in double.</summary>
public sealed class RotaryEmbeddingTests
{
    /// <summary>float32 rounding of a few operations.</summary>
    private const double Float32Tolerance = 1e-6;

    [Theory]
    [InlineData(128, 500000, 8, 1, 4, 8192)] // Llama 3.1
    [InlineData(16, 500000, 32, 1, 4, 8192)] // tiny-l3
    [InlineData(64, 10000, 4, 2, 8, 256)]
    public void Llama3InverseFrequenciesFollowTheProtocol(int headDim, double theta, double factor, double lo, double hi, int context)
    {
        var actual = RotaryEmbedding.InverseFrequencies(headDim, theta, new Llama3RopeScaling(factor, lo, hi, context));

        Assert.Equal(headDim / 2, actual.Length);
        int longWaves = 0, between = 0, shortWaves = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var inv = 1 / Math.Pow(theta, 2.0 * i / headDim);
            var wavelen = 2 * Math.PI / inv;
            double expected;
            if (wavelen > context / lo)
            {
                expected = inv / factor;
                longWaves++;
            }
            else if (wavelen < context / hi)
            {
                expected = inv;
                shortWaves++;
            }
            else
            {
                var s = ((context / wavelen) - lo) / (hi - lo);
                expected = ((1 - s) * inv / factor) + (s * inv);
                between++;
            }

            Assert.True(Math.Abs(actual[i] - expected) <= Float32Tolerance * expected, $"inv_freq[{i}] = {actual[i]:R}, expected {expected:R}");
        }

        // Each of the three cases is exercised.
        Assert.True(longWaves > 0 && between > 0 && shortWaves > 0, $"{longWaves} long, {between} between, {shortWaves} short");
    }

    [Theory]
    [InlineData(16, 500000, 2)]
    [InlineData(128, 10000, 8)]
    public void LinearInverseFrequenciesAreDividedByTheFactor(int headDim, double theta, double factor)
    {
        var actual = RotaryEmbedding.InverseFrequencies(headDim, theta, new LinearRopeScaling(factor));

        for (var i = 0; i < actual.Length; i++)
        {
            var expected = 1 / Math.Pow(theta, 2.0 * i / headDim) / factor;
            Assert.True(Math.Abs(actual[i] - expected) <= Float32Tolerance * expected, $"inv_freq[{i}] = {actual[i]:R}, expected {expected:R}");
        }
    }

    [Fact]
    public void TheTablesUseTheConfigsScaling()
    {
        using var scope = NewDisposeScope();
        var config = LlamaConfig.Load(Path.Combine(RepoPaths.TinyL3Model, LlamaModel.ConfigFile));
        var inv = RotaryEmbedding.InverseFrequencies(config.HeadDim, config.RopeTheta, config.RopeScaling);
        using var scaled = new RotaryEmbedding(config, 256, ScalarType.Float32);
        using var plain = new RotaryEmbedding(config with { RopeScaling = null }, 256, ScalarType.Float32);

        var cos = scaled.Cos[255].data<float>().ToArray();
        var half = config.HeadDim / 2;
        for (var i = 0; i < half; i++)
        {
            var expected = Math.Cos(255 * inv[i]);
            Assert.True(Math.Abs(cos[i] - expected) <= 1e-4 && Math.Abs(cos[i + half] - expected) <= 1e-4, $"cos[255, {i}] = {cos[i]}, expected {expected}");
        }

        Assert.True((scaled.Sin - plain.Sin).abs().max().item<float>() > 0.1, "rope_scaling did not change the tables");
    }

    [Fact]
    public void Llama3AndLinearScalingAreReadUnderEitherKey()
    {
        var llama3 = new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 8192 };
        Assert.Equal(new Llama3RopeScaling(8, 1, 4, 8192), Load(llama3).RopeScaling);

        Assert.Equal(new LinearRopeScaling(2), Load(new JsonObject { ["type"] = "linear", ["factor"] = 2.0 }).RopeScaling);
        Assert.Equal(new LinearRopeScaling(4), Load(new JsonObject { ["rope_type"] = "linear", ["factor"] = 4 }).RopeScaling);

        // As transformers: rope_type wins over the legacy type.
        Assert.Equal(new LinearRopeScaling(2), Load(new JsonObject { ["type"] = "dynamic", ["rope_type"] = "linear", ["factor"] = 2.0 }).RopeScaling);

        Assert.Null(Load(null).RopeScaling);
    }

    private static LlamaConfig Load(JsonObject? scaling)
    {
        using var dir = new TempDir();
        var config = TestCheckpoints.TinyMixConfig();
        config["rope_scaling"] = scaling;
        File.WriteAllText(dir.File(LlamaModel.ConfigFile), config.ToJsonString());
        return LlamaConfig.Load(dir.File(LlamaModel.ConfigFile));
    }
}
