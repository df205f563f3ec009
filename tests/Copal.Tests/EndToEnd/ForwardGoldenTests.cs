using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Tokenization;
using Xunit;

namespace Copal.Tests;

public class ForwardGoldenTests
{
    [Fact]
    public void LogitsOfTheFirstTestTokensMatchTheReference()
    {
        var golden = Golden.TinyMix.GetProperty("logits");
        var ids = Golden.Longs(golden.GetProperty("input_ids"));
        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        using var logits = ModelEvaluator.Logits(model, ids, ComputeOptions.Default);

        var argmax = logits.argmax(1).data<long>().ToArray();
        Assert.Equal(Golden.Longs(golden.GetProperty("argmax")), argmax);
        foreach (var row in golden.GetProperty("rows").EnumerateObject())
        {
            var expected = Golden.Doubles(row.Value);
            var actual = logits[int.Parse(row.Name)].data<float>().ToArray();
            Assert.Equal(expected.Length, actual.Length);
            var scale = expected.Max(Math.Abs);
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4 * scale, $"row {row.Name} col {i}: {actual[i]} vs {expected[i]}");
            }
        }

        var sum = logits.to_type(TorchSharp.torch.ScalarType.Float64).sum().item<double>();
        var sumsq = logits.to_type(TorchSharp.torch.ScalarType.Float64).square().sum().item<double>();
        Assert.Equal(golden.GetProperty("sum").GetDouble(), sum, Math.Abs(sum) * 1e-5);
        Assert.Equal(golden.GetProperty("sumsq").GetDouble(), sumsq, sumsq * 1e-5);
    }

    [Fact]
    public void DensePerplexityAndTokenCountsMatchTheReference()
    {
        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        var tokenizer = TokenizerFiles.Load(model);
        var evaluator = new ModelEvaluator(model, new DataDirectory(RepoPaths.Corpora), tokenizer, 256, null, ComputeOptions.Default);
        var expected = Golden.TinyMix.GetProperty("dense_ppl");
        var datasets = expected.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(4, datasets.Count);
        foreach (var r in evaluator.Evaluate(datasets))
        {
            Assert.Equal(Golden.TinyMix.GetProperty("test_tokens").GetProperty(r.Dataset).GetInt64(), r.Tokens);
            var reference = expected.GetProperty(r.Dataset).GetDouble();
            Assert.True(Math.Abs(r.Perplexity - reference) <= 1e-3 * reference, $"{r.Dataset}: {r.Perplexity} vs {reference}");
        }
    }
}
