using System.Text.Json;
using Copal.Data;
using Copal.Model;
using Xunit;

namespace Copal.Tests;

/// <summary>A run reads the same records the same way whatever files hold them: the same report and stage tensors.</summary>
public class DatasetFormatsRunTests
{
    [Fact]
    public async Task TextJsonLinesAndParquetCopiesGiveTheSameRun()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("files"));
        var formats = new Dictionary<string, string>
        {
            ["fiction.calib"] = "jsonl.gz",
            ["fiction.test"] = "parquet",
            ["science.calib"] = "parquet",
            ["science.test"] = "json.gz",
        };
        foreach (var (split, extension) in formats)
        {
            var records = File.ReadAllText(Path.Combine(RepoPaths.Corpora, split + ".txt")).Split(SplitText.RecordSeparator);
            await SplitFiles.WriteSplit(dir.File($"files/{split}.{extension}"), records);
        }

        string[] common = ["prune", "--datasets", "fiction,science", "--samples", "6", "--seqlen", "64", "--eval-windows", "3", "--batch-size", "2"];
        var text = CopalCli.Run([.. common, "--out", dir.File("text")]);
        Assert.True(text.ExitCode == 0, text.Stderr);
        var files = CopalCli.Run([.. common, "--data", dir.File("files"), "--out", dir.File("files-run")]);
        Assert.True(files.ExitCode == 0, files.Stderr);

        using var expected = JsonDocument.Parse(File.ReadAllBytes(dir.File("text/report.json")));
        using var actual = JsonDocument.Parse(File.ReadAllBytes(dir.File("files-run/report.json")));
        foreach (var key in new[] { "dense_perplexity", "perplexity", "bwt_mean", "bwt_max", "avg_ppl", "achieved_sparsity" })
        {
            Assert.True(expected.RootElement.TryGetProperty(key, out var e), $"report.json has no {key}");
            Assert.Equal(e.GetRawText(), actual.RootElement.GetProperty(key).GetRawText());
        }

        // Every file a stage wrote has the same sha256.
        foreach (var (e, a) in expected.RootElement.GetProperty("stages").EnumerateArray().Zip(actual.RootElement.GetProperty("stages").EnumerateArray()))
        {
            Assert.Equal(e.GetProperty("shards").GetRawText(), a.GetProperty("shards").GetRawText());
            Assert.Equal(e.GetProperty("importance").GetRawText(), a.GetProperty("importance").GetRawText());
        }

        foreach (var stage in new[] { "stage-1-fiction", "stage-2-science" })
        {
            var digests = TensorDigests.Of(dir.File($"text/{stage}"));
            Assert.NotEmpty(digests);
            Assert.Equal(digests, TensorDigests.Of(dir.File($"files-run/{stage}")));
        }
    }
}
