using System.Text.Json;
using Copal.Model;
using Copal.Tokenization;
using Xunit;

namespace Copal.Tests;

/// <summary>`copal eval` through the real executable: its report, and its refusals of bad input.</summary>
public sealed class EvalCommandTests
{
    [Fact]
    public void EvalWritesAReportWithPerplexityAndTokenCounts()
    {
        using var dir = new TempDir();
        var report = dir.File("eval.json");

        var result = CopalCli.Run("eval", "--datasets", "fiction", "--eval-windows", "5", "--report", report);

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var json = JsonDocument.Parse(File.ReadAllBytes(report));
        var root = json.RootElement;
        var model = root.GetProperty("model").GetString()!;
        Assert.Equal("tiny-mix", Path.GetFileName(model));
        Assert.True(Path.IsPathFullyQualified(model) && File.Exists(Path.Combine(model, LlamaModel.ConfigFile)), model);
        Assert.Equal(256, root.GetProperty("seqlen").GetInt32());
        Assert.Equal(5, root.GetProperty("eval_windows").GetInt32());
        Assert.Equal(["fiction"], root.GetProperty("perplexity").EnumerateObject().Select(p => p.Name));
        Assert.Equal(41909, root.GetProperty("tokens").GetProperty("fiction").GetInt64());

        // The figure is the engine's own perplexity of the first five windows, not just a number.
        var perplexity = root.GetProperty("perplexity").GetProperty("fiction").GetDouble();
        var expected = TestCheckpoints.Perplexity(RepoPaths.TinyModel, "fiction", windows: 5).Perplexity;
        Assert.True(Math.Abs(perplexity - expected) <= 1e-6 * expected, $"CLI {perplexity} vs in-process {expected}");
        Assert.Equal([report], Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void EvalReadsAnotherFieldWithAGivenTokenizer()
    {
        using var dir = new TempDir();
        var model = CopyTinyMix(dir.File("model"));
        File.Move(Path.Combine(model, TokenizerFiles.SentencePiece), dir.File("llama.model"));
        Directory.CreateDirectory(dir.File("data"));
        var records = File.ReadAllText(Path.Combine(RepoPaths.Corpora, "fiction.test.txt")).Split("\n\n");
        File.WriteAllLines(dir.File("data/fiction.test.jsonl"), records.Select(r => JsonSerializer.Serialize(new { content = r })));
        var report = dir.File("eval.json");

        var result = CopalCli.Run("eval", "--model", model, "--tokenizer", dir.File("llama.model"), "--data", dir.File("data"), "--text-field", "content", "--datasets", "fiction", "--eval-windows", "5", "--report", report);

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var json = JsonDocument.Parse(File.ReadAllBytes(report));
        Assert.Equal(41909, json.RootElement.GetProperty("tokens").GetProperty("fiction").GetInt64());
        var expected = TestCheckpoints.Perplexity(RepoPaths.TinyModel, "fiction", windows: 5).Perplexity;
        Assert.Equal(expected, json.RootElement.GetProperty("perplexity").GetProperty("fiction").GetDouble(), 1e-6 * expected);

        var wrongField = CopalCli.Run("eval", "--model", model, "--tokenizer", dir.File("llama.model"), "--data", dir.File("data"), "--datasets", "fiction");
        Assert.Equal(2, wrongField.ExitCode);
        Assert.Contains("fiction.test.jsonl", wrongField.Stderr, StringComparison.Ordinal);
    }

    public static TheoryData<string, string[]> BadInputs => new()
    {
        { "missing-model", ["model directory not found"] },
        { "truncated-weights", [CheckpointReader.SingleFile, "truncated"] },
        { "shape-mismatch", ["'model.layers.0.mlp.gate_proj.weight'", "[384, 128]", "[256, 128]"] },
        { "unknown-dataset", ["unknown dataset 'poetry'"] },
        { "seqlen-too-long", ["--seqlen 512", "max_position_embeddings 256"] },
        { "unknown-option", ["--frobnicate"] },
        { "missing-tokenizer", ["no tokenizer.json or tokenizer.model"] },
        { "truncated-tokenizer", [TokenizerFiles.SentencePiece] },
        { "config-not-an-object", ["expected a JSON object, got array"] },
        { "config-field-a-string", ["hidden_size must be a positive integer, got \"128\""] },
        { "report-folder-missing", ["--report", "does not exist"] },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputFailsWithOneLineReasonAndNoReport(string broken, string[] mentions)
    {
        using var dir = new TempDir();
        var report = dir.File("report.json");
        var args = new List<string> { "eval", "--datasets", "fiction", "--eval-windows", "1" };
        switch (broken)
        {
            case "missing-model":
                args.AddRange(["--model", dir.File("no-such-model")]);
                mentions = [.. mentions, dir.File("no-such-model")];
                break;
            case "truncated-weights":
                args.AddRange(["--model", CopyTinyMix(dir.File("model"), truncate: true)]);
                mentions = [.. mentions, dir.File("model")];
                break;
            case "shape-mismatch":
                args.AddRange(["--model", CopyTinyMix(dir.File("model"), intermediateSize: 256)]);
                break;
            case "unknown-dataset":
                args[2] = "fiction,poetry";
                break;
            case "seqlen-too-long":
                args.AddRange(["--seqlen", "512"]);
                break;
            case "missing-tokenizer":
                File.Delete(Path.Combine(CopyTinyMix(dir.File("model")), TokenizerFiles.SentencePiece));
                args.AddRange(["--model", dir.File("model")]);
                break;
            case "truncated-tokenizer":
                using (var tokenizer = new FileStream(Path.Combine(CopyTinyMix(dir.File("model")), TokenizerFiles.SentencePiece), FileMode.Open))
                {
                    tokenizer.SetLength(tokenizer.Length / 3);
                }

                args.AddRange(["--model", dir.File("model")]);
                break;
            case "config-not-an-object":
                File.WriteAllText(Path.Combine(CopyTinyMix(dir.File("model")), LlamaModel.ConfigFile), "[1, 2]");
                args.AddRange(["--model", dir.File("model")]);
                break;
            case "config-field-a-string":
                var config = TestCheckpoints.TinyMixConfig();
                config["hidden_size"] = "128";
                File.WriteAllText(Path.Combine(CopyTinyMix(dir.File("model")), LlamaModel.ConfigFile), config.ToJsonString());
                args.AddRange(["--model", dir.File("model")]);
                break;
            case "unknown-option":
                args.AddRange(["--frobnicate", "3"]);
                break;
            case "report-folder-missing":
                report = dir.File(Path.Combine("missing", "report.json"));
                break;
            default:
                throw new ArgumentException(broken);
        }

        args.AddRange(["--report", report]);
        var before = Directory.GetFileSystemEntries(dir.Path, "*", SearchOption.AllDirectories).Order().ToList();

        var result = CopalCli.Run([.. args]);

        var reason = result.Stderr.Trim();
        Assert.NotEqual(0, result.ExitCode);
        Assert.False(reason.Contains('\n'), $"stderr is not one line:\n{result.Stderr}");
        Assert.StartsWith("error: ", reason);
        foreach (var part in mentions)
        {
            Assert.Contains(part, reason);
        }

        Assert.False(File.Exists(report));
        Assert.Equal(before, Directory.GetFileSystemEntries(dir.Path, "*", SearchOption.AllDirectories).Order());
    }

    /// <summary>A copy of tiny-mix, optionally with its weights cut short or its config changed.</summary>
    private static string CopyTinyMix(string target, bool truncate = false, int? intermediateSize = null)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(RepoPaths.TinyModel))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }

        if (truncate)
        {
            using var weights = new FileStream(Path.Combine(target, CheckpointReader.SingleFile), FileMode.Open);
            weights.SetLength(weights.Length / 2);
        }

        if (intermediateSize is { } size)
        {
            var config = TestCheckpoints.TinyMixConfig();
            config["intermediate_size"] = size;
            File.WriteAllText(Path.Combine(target, LlamaModel.ConfigFile), config.ToJsonString());
        }

        return target;
    }
}
