using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Coordinator.Cli.Jobs;
using Copal.Data;
using Copal.Model;
using Copal.Pruning;
using Copal.Pruning.Metrics;
using Copal.Runs;
using Copal.Tokenization;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// `copal extend`: run(A,B) then extend(C) equals run(A,B,C) bit for bit, for every method and
/// strategy, without the earlier calibration splits; only the latest accumulator is kept, and a
/// crash anywhere in an extension resumes.
/// </summary>
public class ExtendTests
{
    private static readonly string[] Quick = ["prune", "--samples", "4", "--seqlen", "64", "--eval-windows", "2", "--batch-size", "2"];
    private static readonly string[] Stages = ["stage-1-fiction", "stage-2-science", "stage-3-speech"];

    /// <summary>Through the command line, copal/copal: a run of fiction,science,speech and one of fiction,science extended with speech, made once for the tests.</summary>
    private static readonly Lazy<Pair> CliPair = new(() =>
    {
        var dir = new TempDir();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => dir.Dispose();
        var data = CopyOfCorpora(dir);
        string[] settings = [.. Quick, "--data", data];
        var full = CopalCli.Run([.. settings, "--out", dir.File("full")]);
        Assert.True(full.ExitCode == 0, full.Stderr);
        var part = CopalCli.Run([.. settings, "--datasets", "fiction,science", "--out", dir.File("extended")]);
        Assert.True(part.ExitCode == 0, part.Stderr);

        // The stages of fiction and science are committed: extending needs neither calibration split.
        File.Delete(Path.Combine(data, "fiction.calib.txt"));
        File.Delete(Path.Combine(data, "science.calib.txt"));
        var twoStage = ResumeTests.CopyOfRun(dir.File("extended"), dir).Run;
        var extend = CopalCli.Run("extend", dir.File("extended"), "--datasets", "speech");
        Assert.True(extend.ExitCode == 0, extend.Stderr);
        return new Pair(dir.File("full"), dir.File("extended"), twoStage);
    });

    /// <param name="TwoStage">A copy of the two-stage run before its extension (with stage 2's accumulator, which the extension drops).</param>
    private sealed record Pair(string Full, string Extended, string TwoStage);

    private static string CopyOfCorpora(TempDir dir)
    {
        var data = dir.File("data");
        Directory.CreateDirectory(data);
        foreach (var file in Directory.GetFiles(RepoPaths.Corpora, "*.txt"))
        {
            File.Copy(file, Path.Combine(data, Path.GetFileName(file)));
        }

        return data;
    }

    private static JsonNode Report(string run) => JsonNode.Parse(File.ReadAllText(Path.Combine(run, "report.json")))!;

    private static string[] Importance(string run, string stage) =>
        Directory.GetFiles(Path.Combine(run, stage), "importance-*").Select(Path.GetFileName).ToArray()!;

    public static TheoryData<string, string> Combinations()
    {
        var data = new TheoryData<string, string>();
        foreach (var method in new[] { "copal", "wanda", "magnitude", "sparsegpt" })
        {
            foreach (var strategy in new[] { "copal", "reset", "sequential" })
            {
                data.Add(method, strategy);
            }
        }

        return data;
    }

    /// <summary>
    /// In this process (a run through the command line costs seconds of start-up, twelve times
    /// three): what copal extend runs, the run's journal continued over the longer sequence.
    /// </summary>
    [Theory]
    [MemberData(nameof(Combinations))]
    public void RunThenExtendEqualsTheWholeRun(string method, string strategy)
    {
        using var dir = new TempDir();
        var data = CopyOfCorpora(dir);
        var m = Metrics.Parse(method);
        var settings = new PruningSettings
        {
            Method = m,
            Strategy = PruneOptions.ParseStrategy(strategy),
            Propagation = Metrics.Describe(m).DefaultPropagation,
            Mask = new MaskPolicy(0.5, Metrics.Describe(m).DefaultGroup, null),
            Samples = 4,
            SeqLen = 64,
            EvalWindows = 2,
        };
        string[] all = ["fiction", "science", "speech"];
        var full = Run(settings, data, dir.File("full"), all);
        Run(settings, data, dir.File("extended"), all[..2]);
        File.Delete(Path.Combine(data, "fiction.calib.txt"));
        File.Delete(Path.Combine(data, "science.calib.txt"));
        var extended = Run(settings, data, dir.File("extended"), all);

        AssertSameStages(dir.File("full"), dir.File("extended"));
        Assert.Equal(full.Matrix, extended.Matrix);
        Assert.Equal(full.Dense, extended.Dense);
        Assert.Equal(full.Stages.Select(s => s.BytesWritten), extended.Stages.Select(s => s.BytesWritten));
        Assert.Equal(3, RunJournal.Read(dir.File("extended")).Entries.Count(e => e.Event == JournalEntry.StageStarted));

        // Only the latest committed stage keeps its accumulator, in both runs alike.
        Assert.Empty(Importance(dir.File("extended"), Stages[0]));
        Assert.Empty(Importance(dir.File("extended"), Stages[1]));
        Assert.Equal(Importance(dir.File("full"), Stages[2]), Importance(dir.File("extended"), Stages[2]));
    }

    /// <summary>A run, or its continuation, as prune, resume and extend make it: its journal tells what is committed.</summary>
    private static PruneRunResult Run(PruningSettings settings, string data, string outDir, IReadOnlyList<string> datasets)
    {
        Directory.CreateDirectory(outDir);
        using var model = LlamaModel.Open(RepoPaths.TinyModel);
        using var pruner = new ContinualPruner(model, new DataDirectory(data), TokenizerFiles.Load(model), settings, ComputeOptions.Default);
        var journal = RunJournal.Open(outDir);
        pruner.Preflight(datasets, committed: journal.CommittedPrefix(datasets));
        return pruner.Run(datasets, outDir, journal: journal);
    }

    [Fact]
    public void TheCommandLineExtensionEqualsTheWholeRun()
    {
        var pair = CliPair.Value;
        AssertSameRun(pair.Full, pair.Extended);
        Assert.Equal(["fiction", "science", "speech"], RunSpec.Load(pair.Extended).Datasets);
        Assert.Equal(BytesWritten(pair.Full), BytesWritten(pair.Extended));
        Assert.All(BytesWritten(pair.Extended), bytes => Assert.True(bytes > 0));
        Assert.Contains("Bytes written per stage: 1 (fiction) ", File.ReadAllText(Path.Combine(pair.Extended, "report.md")));
        Assert.Empty(Importance(pair.Extended, Stages[1]));
        Assert.NotEmpty(Importance(pair.Extended, Stages[2]));
    }

    /// <summary>Every stage tensor's sha256 and the reported perplexities are equal.</summary>
    private static void AssertSameRun(string expected, string actual)
    {
        AssertSameStages(expected, actual);
        var (x, y) = (Report(expected), Report(actual));
        foreach (var key in new[] { "datasets", "dense_perplexity", "perplexity", "bwt_mean", "avg_ppl" })
        {
            Assert.Equal(x[key]!.ToJsonString(), y[key]!.ToJsonString());
        }
    }

    private static void AssertSameStages(string expected, string actual)
    {
        foreach (var stage in Stages)
        {
            var a = TensorDigests.Of(Path.Combine(expected, stage));
            var b = TensorDigests.Of(Path.Combine(actual, stage));
            Assert.NotEmpty(a);
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            Assert.All(a, e => Assert.True(e.Value == b[e.Key], $"{stage}: {e.Key} differs"));
        }
    }

    private static IEnumerable<long> BytesWritten(string run) => Report(run)["stages"]!.AsArray().Select(s => s!["bytes_written"]!.GetValue<long>());

    [Fact]
    public void AnExtensionOnThreeNodesEqualsTheWholeRunInOneProcess()
    {
        var pair = CliPair.Value;
        using var dir = new TempDir();
        var (run, _, _) = ResumeTests.CopyOfRun(pair.TwoStage, dir);
        var extend = CopalCli.Run("extend", run, "--datasets", "speech", "--nodes", "3");
        Assert.True(extend.ExitCode == 0, extend.Stderr);
        Assert.Equal(3, Report(run)["cluster"]!["nodes"]!.GetValue<int>());
        AssertSameRun(pair.Full, run);
    }

    /// <summary>A copy of the copal/copal extended run and its journal's lines.</summary>
    private static (string Run, string Journal, string[] Lines) ExtendedRun(TempDir dir)
    {
        return ResumeTests.CopyOfRun(CliPair.Value.Extended, dir);
    }

    private static int LineOf(string[] lines, string @event, int stage) =>
        Array.FindLastIndex(lines, l => l.Contains($"\"{@event}\",\"Stage\":{stage}", StringComparison.Ordinal));

    [Fact]
    public void ACrashInAnExtensionStageResumesToTheWholeRun()
    {
        using var dir = new TempDir();
        var (run, journal, lines) = ExtendedRun(dir);

        // Killed while computing stage 3: its start journaled, its directory never renamed into place, stage 2's accumulator not yet dropped.
        var cut = LineOf(lines, JournalEntry.StageStarted, 3) + 1;
        File.WriteAllLines(journal, lines[..cut]);
        Directory.Delete(Path.Combine(run, Stages[2]), recursive: true);
        var accumulator = Importance(CliPair.Value.TwoStage, Stages[1]);
        Assert.NotEmpty(accumulator);
        foreach (var file in accumulator)
        {
            File.Copy(Path.Combine(CliPair.Value.TwoStage, Stages[1], file), Path.Combine(run, Stages[1], file));
        }

        var again = CopalCli.Run("extend", run, "--datasets", "news");
        Assert.Equal(2, again.ExitCode);
        Assert.Contains($"`copal resume {run}`", again.Stderr);

        var resumed = CopalCli.Run("resume", run);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        AssertSameRun(CliPair.Value.Full, run);

        // Only the stage cut short was computed again.
        var started = File.ReadAllLines(journal)[cut..].Select(CopalJson.Deserialize<JournalEntry>).Where(e => e.Event == JournalEntry.StageStarted);
        Assert.Equal([3], started.Select(e => e.Stage));
    }

    [Fact]
    public void ACrashAroundDroppingAnAccumulatorResumesWithoutRecomputing()
    {
        using var dir = new TempDir();
        var (run, journal, lines) = ExtendedRun(dir);
        var full = CliPair.Value.Full;

        // Killed after journaling stage 2's drop, before deleting its files or evaluating stage 3.
        File.WriteAllLines(journal, lines[..(LineOf(lines, JournalEntry.AccumulatorDropped, 2) + 1)]);
        var leftover = Path.Combine(run, Stages[1], Importance(run, Stages[2]).Single());
        File.WriteAllText(leftover, "not deleted yet");

        var status = CopalCli.Run("status", run);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.DoesNotContain("damaged", status.Stdout);

        var resumed = CopalCli.Run("resume", run);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Equal(3, resumed.Stderr.Split('\n').Count(l => l.Contains("committed and verified", StringComparison.Ordinal)));
        Assert.False(File.Exists(leftover), "the dropped accumulator was not deleted on resume");
        AssertSameRun(full, run);

        // The state carried on is still there: the run extends once more.
        var extend = CopalCli.Run("extend", run, "--datasets", "news");
        Assert.True(extend.ExitCode == 0, extend.Stderr);
        Assert.Equal(4, Report(run)["perplexity"]!.AsArray().Count);
        Assert.Empty(Importance(run, Stages[2]));
        Assert.NotEmpty(Importance(run, "stage-4-news"));
    }

    [Fact]
    public void ABadExtensionIsRefusedInOneLineAndWritesNothing()
    {
        using var dir = new TempDir();
        var data = CopyOfCorpora(dir);
        var run = dir.File("run");
        var first = CopalCli.Run([.. Quick, "--data", data, "--datasets", "fiction", "--keep-accumulators", "--out", run]);
        Assert.True(first.ExitCode == 0, first.Stderr);
        File.Delete(Path.Combine(data, "news.calib.txt"));
        var journal = Path.Combine(run, RunJournal.FileName);
        var lines = File.ReadAllLines(journal);
        var spec = File.ReadAllBytes(Path.Combine(run, RunSpec.FileName));

        File.WriteAllLines(journal, lines[..^1]);
        var unfinished = CopalCli.Run("extend", run, "--datasets", "science");
        File.WriteAllLines(journal, lines);
        var refusals = new[]
        {
            (CopalCli.Run("extend", dir.File("nothing"), "--datasets", "science"), "not a run directory"),
            (unfinished, "the run is not finished"),
            (CopalCli.Run("extend", run, "--datasets", "science,fiction"), "'fiction' is already in the run"),
            (CopalCli.Run("extend", run, "--datasets", "news"), "unknown dataset 'news': no news.calib."),
        };
        foreach (var (refused, reason) in refusals)
        {
            Assert.True(refused.ExitCode == 2, refused.Stderr);
            Assert.Single(refused.Stderr.Trim().Split('\n'));
            Assert.Contains(reason, refused.Stderr);
        }

        Assert.Equal(lines, File.ReadAllLines(journal));
        Assert.Equal(spec, File.ReadAllBytes(Path.Combine(run, RunSpec.FileName)));
        Assert.False(Directory.Exists(Path.Combine(run, Stages[1])));

        // Later, the data lives elsewhere and fiction's test split is gone: its perplexities are reported missing, not an error.
        var later = dir.File("later");
        Directory.CreateDirectory(later);
        File.Move(Path.Combine(data, "science.calib.txt"), Path.Combine(later, "science.calib.txt"));
        File.Move(Path.Combine(data, "science.test.txt"), Path.Combine(later, "science.test.txt"));
        var extend = CopalCli.Run("extend", run, "--datasets", "science", "--data", later);
        Assert.True(extend.ExitCode == 0, extend.Stderr);
        Assert.Equal(Path.GetFullPath(later), RunSpec.Load(run).DataDirectory);
        Assert.Contains("Dataset fiction: no test split", extend.Stderr);
        var report = Report(run);
        Assert.Equal(JsonValueKind.Number, report["dense_perplexity"]!["fiction"]!.GetValueKind());
        Assert.Null(report["perplexity"]![1]![0]);
        Assert.Equal(report["perplexity"]![1]![1]!.GetValue<double>(), report["avg_ppl"]!.GetValue<double>());
        Assert.Contains("| 2 (science) | missing | ", File.ReadAllText(Path.Combine(run, "report.md")));

        // --keep-accumulators, recorded in run.json, held for the extension.
        Assert.NotEmpty(Importance(run, Stages[0]));
        Assert.NotEmpty(Importance(run, Stages[1]));

        var status = CopalCli.Run("status", run);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.Equal(new Dictionary<int, string> { [1] = "done", [2] = "done" }, ResumeTests.States(status.Stdout));
    }
}
