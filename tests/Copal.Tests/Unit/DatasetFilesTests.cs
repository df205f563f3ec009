using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Copal.Data;
using Copal.Model;
using Copal.Tokenization;
using Parquet;
using Parquet.Schema;
using Xunit;

namespace Copal.Tests;

/// <summary>Split files as .txt, JSON lines (plain and gzip'd) and Parquet, written for real and read back.</summary>
public sealed class DatasetFilesTests
{
    private static readonly Lazy<ITokenizer> TinyMix = new(() =>
    {
        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        return TokenizerFiles.Load(model);
    });

    /// <summary>The documents of the bundled fiction test split, which it separates by a blank line.</summary>
    private static readonly Lazy<string[]> Fiction = new(() => File.ReadAllText(Path.Combine(RepoPaths.Corpora, "fiction.test.txt")).Split(SplitText.RecordSeparator));

    public static TheoryData<string> Extensions => [.. SplitFormats.Extensions];

    [Theory]
    [MemberData(nameof(Extensions))]
    public async Task TheSameRecordsGiveTheSameTextAndTokensInEveryFormat(string extension)
    {
        using var dir = new TempDir();
        await SplitFiles.WriteSplit(dir.File("fiction.test." + extension), Fiction.Value);

        var data = new DataDirectory(dir.Path);
        var bundled = new DataDirectory(RepoPaths.Corpora);

        Assert.True(Fiction.Value.Length > 3, "the corpus should hold several documents");
        Assert.Equal(File.ReadAllText(Path.Combine(RepoPaths.Corpora, "fiction.test.txt")), data.Text("fiction", Split.Test));
        Assert.Equal(TokenStream.Load(bundled, "fiction", Split.Test, TinyMix.Value), TokenStream.Load(data, "fiction", Split.Test, TinyMix.Value));
    }

    [Fact]
    public async Task TheSplitsOfOneDatasetMayHaveDifferentFormats()
    {
        using var dir = new TempDir();
        await SplitFiles.WriteSplit(dir.File("fiction.calib.parquet"), ["calibration one", "calibration two"]);
        await SplitFiles.WriteSplit(dir.File("fiction.test.jsonl.gz"), ["test one", "test two"]);
        await SplitFiles.WriteSplit(dir.File("news.calib.txt"), ["news calibration"]);
        await SplitFiles.WriteSplit(dir.File("news.test.json.gz"), ["news test"]);

        var data = new DataDirectory(dir.Path);
        data.Require(["fiction", "news"], Split.Calib, Split.Test);

        Assert.Equal(["fiction", "news"], data.Available(Split.Calib));
        Assert.Equal(["fiction", "news"], data.Available(Split.Test));
        Assert.Equal("calibration one\n\ncalibration two", data.Text("fiction", Split.Calib));
        Assert.Equal("test one\n\ntest two", data.Text("fiction", Split.Test));
        Assert.Equal("news calibration", data.Text("news", Split.Calib));
        Assert.Equal("news test", data.Text("news", Split.Test));
    }

    [Fact]
    public async Task AnUnknownDatasetListsTheDatasetsOfEveryFormat()
    {
        using var dir = new TempDir();
        await SplitFiles.WriteSplit(dir.File("alpha.calib.txt"), ["a"]);
        await SplitFiles.WriteSplit(dir.File("beta.calib.parquet"), ["b"]);
        await SplitFiles.WriteSplit(dir.File("gamma.calib.json.gz"), ["c"]);
        await SplitFiles.WriteSplit(dir.File("delta.test.jsonl"), ["d"]);
        File.WriteAllText(dir.File("epsilon.train.txt"), "never read");
        File.WriteAllText(dir.File("zeta.calib.csv"), "not a split format");

        var data = new DataDirectory(dir.Path);
        var e = Assert.Throws<CopalInputException>(() => data.Require(["alpha", "poetry"], Split.Calib));

        Assert.Equal(["alpha", "beta", "gamma"], data.Available(Split.Calib));
        Assert.Equal(["delta"], data.Available(Split.Test));
        Assert.Contains("unknown dataset 'poetry'", e.Message);
        Assert.Contains("alpha, beta, gamma)", e.Message);
        Assert.Contains(dir.Path, e.Message);
    }

    [Fact]
    public async Task TwoFilesForOneSplitAreRefusedNamingBoth()
    {
        using var dir = new TempDir();
        await SplitFiles.WriteSplit(dir.File("fiction.calib.txt"), ["a"]);
        await SplitFiles.WriteSplit(dir.File("fiction.calib.jsonl"), ["a"]);
        await SplitFiles.WriteSplit(dir.File("fiction.test.txt"), ["b"]);

        var data = new DataDirectory(dir.Path);
        var e = Assert.Throws<CopalInputException>(() => data.Require(["fiction"], Split.Test, Split.Calib));

        Assert.Contains(dir.File("fiction.calib.txt"), e.Message);
        Assert.Contains(dir.File("fiction.calib.jsonl"), e.Message);
        Assert.Equal("b", data.Text("fiction", Split.Test));
        Assert.Equal(["fiction"], data.Available(Split.Calib));
    }

    public static TheoryData<string, string, string[]> BadJsonLines
    {
        get
        {
            var cases = new TheoryData<string, string, string[]>();
            foreach (var extension in new[] { "jsonl", "jsonl.gz", "json.gz" })
            {
                cases.Add(extension, "{\"text\": \"fine\"}\n{\"text\": oops}\n", ["line 2", "not JSON"]);
                cases.Add(extension, "{\"text\": \"fine\"}\n\n[\"an\", \"array\"]\n", ["line 3", "a JSON array, not an object"]);
                cases.Add(extension, "{\"body\": \"no text field\"}\n", ["line 1", "no field 'text'"]);
                cases.Add(extension, "{\"text\": \"fine\"}\r\n{\"text\": 5}\r\n", ["line 2", "field 'text' is a number, not a string"]);
                cases.Add(extension, "{\"text\": null}\n", ["line 1", "field 'text' is a null, not a string"]);
            }

            return cases;
        }
    }

    [Theory]
    [MemberData(nameof(BadJsonLines))]
    public void ABadJsonLineIsRefusedNamingTheFileAndLine(string extension, string content, string[] mentions)
    {
        using var dir = new TempDir();
        var file = dir.File("fiction.calib." + extension);
        SplitFiles.WriteJsonLines(file, content);

        var e = Assert.Throws<CopalInputException>(() => new DataDirectory(dir.Path).Text("fiction", Split.Calib));

        Assert.Contains(file + ", " + mentions[0], e.Message);
        Assert.Contains(mentions[1], e.Message);
    }

    [Theory]
    [InlineData("txt", "")]
    [InlineData("jsonl", "")]
    [InlineData("jsonl", "\n  \n\n")]
    [InlineData("jsonl.gz", "{\"text\": \"\"}\n{\"text\": \"\"}\n")]
    [InlineData("json.gz", "")]
    [InlineData("parquet", "")]
    [InlineData("parquet", "{\"text\": \"\"}\n")]
    public async Task AnEmptySplitIsRefusedNamingTheFile(string extension, string jsonLines)
    {
        using var dir = new TempDir();
        var file = dir.File("fiction.test." + extension);
        var records = jsonLines.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!).ToArray();
        if (extension == "parquet")
        {
            await SplitFiles.WriteParquet(file, "text", [records]);
        }
        else
        {
            SplitFiles.WriteJsonLines(file, jsonLines);
        }

        var e = Assert.Throws<CopalInputException>(() => new DataDirectory(dir.Path).Text("fiction", Split.Test));

        Assert.Contains(file + ": empty split", e.Message);
    }

    public static TheoryData<string> BrokenGzips => ["cut in half", "trailer cut off", "cut to a few bytes", "bytes overwritten"];

    [Theory]
    [MemberData(nameof(BrokenGzips))]
    public async Task ATruncatedOrCorruptGzipIsRefusedNamingTheFile(string damage)
    {
        using var dir = new TempDir();
        var file = dir.File("fiction.test.jsonl.gz");
        await SplitFiles.WriteSplit(file, Fiction.Value);
        var bytes = File.ReadAllBytes(file);
        bytes = damage switch
        {
            "cut in half" => bytes[..(bytes.Length / 2)],
            "trailer cut off" => bytes[..^8],
            "cut to a few bytes" => bytes[..5],
            _ => [.. bytes[..(bytes.Length / 2)], .. Enumerable.Repeat((byte)0xFF, 64), .. bytes[(bytes.Length / 2 + 64)..]],
        };
        File.WriteAllBytes(file, bytes);

        var e = Assert.Throws<CopalInputException>(() => new DataDirectory(dir.Path).Text("fiction", Split.Test));

        // Damage is reported as such, not as the bad JSON of the line it cut or garbled.
        Assert.Contains(file + ": ", e.Message);
        Assert.Contains(damage == "bytes overwritten" ? "corrupt" : "truncated", e.Message);
        Assert.DoesNotContain("line", e.Message);
    }

    [Fact]
    public async Task AParquetFileWithoutTheColumnIsRefusedListingItsColumns()
    {
        using var dir = new TempDir();
        var file = dir.File("fiction.test.parquet");
        await SplitFiles.WriteParquet(file, "body", [["a", "b"]]);

        var e = Assert.Throws<CopalInputException>(() => new DataDirectory(dir.Path).Text("fiction", Split.Test));

        Assert.Contains(file + ": no column 'text' (columns: body)", e.Message);
    }

    [Fact]
    public async Task AParquetColumnOfNumbersIsRefused()
    {
        using var dir = new TempDir();
        var file = dir.File("fiction.test.parquet");
        var numbers = new DataField<int>("text");
        await using (var stream = File.Create(file))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(numbers), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<int>(numbers, new[] { 1, 2, 3 }, null, null, CancellationToken.None);
        }

        var e = Assert.Throws<CopalInputException>(() => new DataDirectory(dir.Path).Text("fiction", Split.Test));

        Assert.Contains(file + ": column 'text' holds Int32, not strings", e.Message);
    }

    [Fact]
    public async Task ANullInTheParquetColumnIsRefusedNamingTheRow()
    {
        using var dir = new TempDir();
        var file = dir.File("fiction.test.parquet");
        await SplitFiles.WriteParquet(file, "text", [["a", "b"], ["c", null, "e"]]);

        var e = Assert.Throws<CopalInputException>(() => new DataDirectory(dir.Path).Text("fiction", Split.Test));

        Assert.Contains(file + ": column 'text' is null in row 4", e.Message);
    }

    public static TheoryData<CompressionMethod, bool> ParquetCodecs()
    {
        var codecs = new TheoryData<CompressionMethod, bool>();
        foreach (var codec in Enum.GetValues<CompressionMethod>().Where(c => c != CompressionMethod.Lzo))
        {
            codecs.Add(codec, false);
            codecs.Add(codec, true);
        }

        return codecs;
    }

    // The page checks run on pages as Parquet.Net writes them: every codec it writes, with a dictionary page or without.
    [Theory]
    [MemberData(nameof(ParquetCodecs))]
    public async Task ParquetPagesOfEveryCodecAreRead(CompressionMethod codec, bool repeated)
    {
        using var dir = new TempDir();
        var file = dir.File("fiction.test.parquet");
        string[] records = repeated ? [.. Enumerable.Repeat("the same record", 2000), "another one"] : [.. Enumerable.Range(0, 2000).Select(i => $"record {i}")];
        var field = new DataField<string>("text");
        await using (var stream = File.Create(file))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream, new ParquetOptions { CompressionMethod = codec }))
        {
            foreach (var rows in records.Chunk(700))
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(field, rows, null);
            }
        }

        Assert.Equal(string.Join(SplitText.RecordSeparator, records), SplitText.Read(file));
    }

    public static TheoryData<string> BrokenParquets => ["cut in half", "footer cut off", "not parquet at all", "pages overwritten"];

    [Theory]
    [MemberData(nameof(BrokenParquets))]
    public async Task ATruncatedOrCorruptParquetFileIsRefusedNamingTheFile(string damage)
    {
        using var dir = new TempDir();
        var file = dir.File("fiction.test.parquet");
        await SplitFiles.WriteSplit(file, Fiction.Value);
        var bytes = File.ReadAllBytes(file);
        bytes = damage switch
        {
            "cut in half" => bytes[..(bytes.Length / 2)],
            "footer cut off" => bytes[..^3],
            "not parquet at all" => Encoding.UTF8.GetBytes("{\"text\": \"this is JSON, not Parquet\"}\n"),
            // The first row group's page header and data start right after the 4-byte magic.
            _ => [.. bytes[..4], .. Enumerable.Repeat((byte)0xA5, 64), .. bytes[68..]],
        };
        File.WriteAllBytes(file, bytes);

        var e = Assert.Throws<CopalInputException>(() => new DataDirectory(dir.Path).Text("fiction", Split.Test));

        Assert.Contains(file + ": corrupt or truncated file", e.Message);
    }

    [Fact]
    public async Task TheTextFieldPicksAnotherJsonFieldAndParquetColumn()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("fiction.calib.jsonl"), "{\"text\": \"not this\", \"body\": \"first\"}\n{\"body\": \"second\"}\n");
        var body = new DataField<string>("body");
        var text = new DataField<string>("text");
        await using (var stream = File.Create(dir.File("fiction.test.parquet")))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(text, body), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(text, ["not this", "nor this"], null);
            await group.WriteAsync(body, ["third", "fourth"], null);
        }

        var data = new DataDirectory(dir.Path, textField: "body");

        Assert.Equal("body", data.TextField);
        Assert.Equal("first\n\nsecond", data.Text("fiction", Split.Calib));
        Assert.Equal("third\n\nfourth", data.Text("fiction", Split.Test));
        Assert.Equal("not this\n\nnor this", new DataDirectory(dir.Path).Text("fiction", Split.Test));
        var e = Assert.Throws<CopalInputException>(() => new DataDirectory(dir.Path).Text("fiction", Split.Calib));
        Assert.Contains("line 2: no field 'text'", e.Message);
    }

    [Theory]
    [MemberData(nameof(Extensions))]
    public async Task ReadingReportsTheBytesReadOfTheFile(string extension)
    {
        using var dir = new TempDir();
        var file = dir.File("fiction.test." + extension);
        // About 4 MB of text, so a plain file crosses several 1 MiB progress steps.
        await SplitFiles.WriteSplit(file, [.. Enumerable.Repeat(Fiction.Value, 30).SelectMany(r => r)]);
        var progress = new RecordedProgress();

        new DataDirectory(dir.Path).Text("fiction", Split.Test, progress);

        var length = new FileInfo(file).Length;
        Assert.All(progress.Reports, r => Assert.Equal(("read fiction.test." + extension, length), (r.Task, r.Total)));
        Assert.Equal(0, progress.Reports[0].Done);
        Assert.Equal(length, progress.Reports[^1].Done);
        Assert.Equal(progress.Reports.Select(r => r.Done).Order(), progress.Reports.Select(r => r.Done));
        Assert.Single(progress.Reports, r => r.Done == length);
        if (length > 2 << 20)
        {
            Assert.True(progress.Reports.Count >= 3, $"{length} bytes read with only {progress.Reports.Count} reports");
        }
    }

    [Fact]
    public async Task EvalReadsAParquetSplitAndRefusesABadJsonLineWithOneLine()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("data"));
        await SplitFiles.WriteSplit(dir.File(Path.Combine("data", "fiction.test.parquet")), Fiction.Value);
        var bad = dir.File(Path.Combine("data", "news.test.jsonl.gz"));
        SplitFiles.WriteJsonLines(bad, "{\"text\": \"fine\"}\n{\"text\": 7}\n");
        var report = dir.File("eval.json");

        var good = CopalCli.Run("eval", "--data", dir.File("data"), "--datasets", "fiction", "--eval-windows", "1", "--report", report);
        var refused = CopalCli.Run("eval", "--data", dir.File("data"), "--datasets", "fiction,news", "--eval-windows", "1", "--report", dir.File("refused.json"));

        Assert.True(good.ExitCode == 0, good.Stderr);
        using (var json = JsonDocument.Parse(File.ReadAllBytes(report)))
        {
            // The same token count as the bundled fiction.test.txt (EvalCommandTests).
            Assert.Equal(41909, json.RootElement.GetProperty("tokens").GetProperty("fiction").GetInt64());
        }

        Assert.Equal(InputError.ExitCode, refused.ExitCode);
        Assert.EndsWith($"\nerror: {bad}, line 2: field 'text' is a number, not a string", refused.Stderr.Trim());
        Assert.False(File.Exists(dir.File("refused.json")));
    }

    [Fact]
    public void ARunShowsTheReadingOfEachCalibrationSplitBeforeAnyWork()
    {
        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        var settings = new Pruning.PruningSettings
        {
            Method = Pruning.PruningMethod.Wanda,
            Strategy = Pruning.Strategy.Reset,
            Propagation = Pruning.Propagation.Pruned,
            Mask = new Pruning.MaskPolicy(0.5, Pruning.MaskGroup.Row, null),
            Samples = 4,
            SeqLen = 64,
        };
        using var pruner = new Runs.ContinualPruner(model, new DataDirectory(RepoPaths.Corpora), TokenizerFiles.Load(model), settings, ComputeOptions.Default);
        var progress = new RecordedProgress();

        pruner.Preflight(["fiction", "science"], progress);

        Assert.Equal(["read fiction.calib.txt", "read science.calib.txt"], progress.Reports.Where(r => r.Done == r.Total).Select(r => r.Task));
    }

    /// <summary>Keeps every report, in order, on the reporting thread (Progress&lt;T&gt; would post them).</summary>
    private sealed class RecordedProgress : IProgress<WorkProgress>
    {
        public List<WorkProgress> Reports { get; } = [];

        public void Report(WorkProgress value) => Reports.Add(value);
    }
}
