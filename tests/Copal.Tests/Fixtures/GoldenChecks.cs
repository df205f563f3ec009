using System.Text.Json;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Tokenization;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>The dense checks of a bundled model against its golden file: logits and perplexity.</summary>
public static class GoldenChecks
{
    /// <summary>
    /// Logits of <c>input_ids</c> through the model: the argmax equal; each reference row within
    /// 1e-4 of its scale (a row may hold only the first ids of a large vocabulary); sum and sum of
    /// squares over the whole vocabulary within 1e-5.
    /// </summary>
    public static void Logits(JsonElement golden, string modelDirectory)
    {
        using var scope = NewDisposeScope();
        var ids = Golden.Longs(golden.GetProperty("input_ids"));
        using var model = LlamaModel.Open(modelDirectory);
        var logits = ModelEvaluator.Logits(model, ids, ComputeOptions.Default);
        Assert.Equal([ids.Length, (long)model.Config.VocabSize], logits.shape);

        Assert.Equal(Golden.Longs(golden.GetProperty("argmax")), logits.argmax(1).data<long>().ToArray());
        foreach (var row in golden.GetProperty("rows").EnumerateObject())
        {
            var expected = Golden.Doubles(row.Value);
            var actual = logits[int.Parse(row.Name)].data<float>().ToArray();
            Assert.True(expected.Length <= actual.Length, $"row {row.Name} holds {expected.Length} logits, the vocabulary {actual.Length}");
            var scale = expected.Max(Math.Abs);
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4 * scale, $"row {row.Name} col {i}: {actual[i]} vs {expected[i]}");
            }
        }

        var sum = logits.to_type(ScalarType.Float64).sum().item<double>();
        var sumsq = logits.to_type(ScalarType.Float64).square().sum().item<double>();
        Assert.Equal(golden.GetProperty("sum").GetDouble(), sum, Math.Abs(sum) * 1e-5);
        Assert.Equal(golden.GetProperty("sumsq").GetDouble(), sumsq, sumsq * 1e-5);
    }

    /// <summary>Dense perplexity of every dataset's test split (L = 256) within 0.1%, and its token count exact.</summary>
    public static void DensePerplexity(JsonElement golden, string modelDirectory, int datasetCount)
    {
        using var model = LlamaModel.Open(modelDirectory);
        var tokenizer = TokenizerFiles.Load(model);
        var evaluator = new ModelEvaluator(model, new DataDirectory(RepoPaths.Corpora), tokenizer, 256, null, ComputeOptions.Default);
        var expected = golden.GetProperty("dense_ppl");
        var datasets = expected.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(datasetCount, datasets.Count);
        foreach (var r in evaluator.Evaluate(datasets))
        {
            Assert.Equal(golden.GetProperty("test_tokens").GetProperty(r.Dataset).GetInt64(), r.Tokens);
            var reference = expected.GetProperty(r.Dataset).GetDouble();
            Assert.True(Math.Abs(r.Perplexity - reference) <= 1e-3 * reference, $"{r.Dataset}: {r.Perplexity} vs {reference}");
        }
    }
}
