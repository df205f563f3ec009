using System.Text.Json.Nodes;
using Copal.Coordinator.Cli.Hosting;
using Copal.Model;
using Copal.Tokenization;
using static TorchSharp.torch;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// Writes a LLaMA checkpoint with seeded random weights: N(0, 0.02) linears and embeddings, unit
/// norms, the bundled tokenizer. Tensors are generated and streamed into the file one at a time,
/// so a model far larger than memory can be written.
/// </summary>
public static class RandomCheckpoint
{
    public static void Write(string directory, ModelShape shape, StorageType dtype, long seed = 0)
    {
        if (shape.Hidden % shape.Heads != 0 || shape.Hidden / shape.Heads % 2 != 0)
        {
            throw new CopalInputException($"hidden size {shape.Hidden} must split into {shape.Heads} heads of an even dimension");
        }

        if (shape.Vocab < 4096)
        {
            throw new CopalInputException($"vocab {shape.Vocab} is smaller than the bundled tokenizer's 4096 pieces");
        }

        Directory.CreateDirectory(directory);
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["vocab_size"] = shape.Vocab,
            ["hidden_size"] = shape.Hidden,
            ["intermediate_size"] = shape.Intermediate,
            ["num_hidden_layers"] = shape.Layers,
            ["num_attention_heads"] = shape.Heads,
            ["num_key_value_heads"] = shape.Heads,
            ["max_position_embeddings"] = shape.Positions,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 10000.0,
            ["hidden_act"] = "silu",
            ["tie_word_embeddings"] = false,
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
            ["torch_dtype"] = dtype == StorageType.BF16 ? "bfloat16" : dtype == StorageType.F16 ? "float16" : "float32",
        };
        var configPath = Path.Combine(directory, LlamaModel.ConfigFile);
        AtomicFile.WriteAllText(configPath, config.ToJsonString());
        File.Copy(Path.Combine(Bundled.Model, TokenizerFiles.SentencePiece), Path.Combine(directory, TokenizerFiles.SentencePiece), overwrite: true);

        var layout = LlamaConfig.Load(configPath).ExpectedTensors().Select(t => (t.Name, dtype, t.Shape)).ToList();
        using var generator = new Generator((ulong)seed);
        using var writer = new SafetensorsWriter(Path.Combine(directory, CheckpointReader.SingleFile), layout);
        foreach (var (name, _, tensorShape) in layout)
        {
            using var scope = NewDisposeScope();
            var value = tensorShape.Length == 1 ? ones(tensorShape) : randn(tensorShape, generator: generator).mul_(0.02);
            writer.Write(name, value);
        }

        writer.Commit();
    }
}
