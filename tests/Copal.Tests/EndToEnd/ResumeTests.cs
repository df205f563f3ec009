using System.Text.Json;
using Copal.Model;
using Copal.Runs;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// Runs that lose a node, lose the coordinator, or find a torn shard finish with checkpoints
/// bit-identical to a clean run.
/// </summary>
public class ResumeTests
{
    internal static readonly string[] Run = ["prune", "--samples", "8", "--seqlen", "64", "--eval-windows", "2", "--batch-size", "2"];

    private static Dictionary<string, string> Digests(string outDir, string stage) =>
        TensorDigests.Of(Path.Combine(outDir, stage));

    private static readonly string[] Stages = ["stage-1-fiction", "stage-2-science", "stage-3-speech"];

    internal static void AssertSameCheckpoints(string expected, string actual)
    {
        foreach (var stage in Stages)
        {
            var a = Digests(expected, stage);
            var b = Digests(actual, stage);
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            Assert.All(a, e => Assert.True(e.Value == b[e.Key], $"{stage}: {e.Key} differs"));
        }
    }

    /// <summary>
    /// A second prune or resume of a run directory in use is refused before it writes anything;
    /// the lock goes with the process that held it, even when it is killed.
    /// </summary>
    [Fact]
    public void ARunDirectoryServesOneProcessAtATime()
    {
        using var dir = new TempDir();
        var run = dir.File("run");
        using (var first = new ChaosHarness(["prune", "--samples", "512", "--seqlen", "256", "--eval-windows", "2", "--out", run]))
        {
            ChaosHarness.WaitForJournal(run, "\"stage-started\"", TimeSpan.FromMinutes(2));
            var journal = File.ReadAllText(Path.Combine(run, Runs.RunJournal.FileName));

            foreach (var second in new[] { CopalCli.Run("resume", run), CopalCli.Run([.. Run, "--out", run, "--force"]) })
            {
                Assert.Equal(2, second.ExitCode);
                Assert.Contains("in use by another copal process", second.Stderr);
            }

            Assert.False(File.ReadAllText(Path.Combine(run, Runs.RunJournal.FileName)).Length < journal.Length, "a refused process touched the journal");
            Assert.False(first.HasExited, "the first run ended before the others were refused; the test proves nothing");
            ChaosHarness.Kill(first.Pid);
            first.WaitForExit(TimeSpan.FromSeconds(30));
        }

        using var free = Runs.RunLock.Acquire(run);
    }

    [Fact]
    public void ATruncatedCommittedShardIsNoticedAndRecomputed()
    {
        using var dir = new TempDir();
        var clean = CopalCli.Run([.. Run, "--out", dir.File("run")]);
        Assert.True(clean.ExitCode == 0, clean.Stderr);
        var before = Stages.ToDictionary(s => s, s => Digests(dir.File("run"), s));

        var shard = Path.Combine(dir.File("run"), "stage-2-science", "layers-00000-00003.safetensors");
        using (var f = new FileStream(shard, FileMode.Open))
        {
            f.SetLength(f.Length / 2);
        }

        var status = CopalCli.Run("status", dir.File("run"));
        Assert.Contains("will be recomputed", status.Stdout);

        var resumed = CopalCli.Run("resume", dir.File("run"));
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("recomputing it", resumed.Stderr);
        foreach (var stage in Stages)
        {
            Assert.Equal(before[stage], Digests(dir.File("run"), stage));
        }
    }

    // One finished two-stage run, made once for the tests that damage one: each damages a copy.
    private static readonly Lazy<string> SharedTwoStageRun = new(() =>
    {
        var dir = new TempDir();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => dir.Dispose();
        var clean = CopalCli.Run([.. Run, "--datasets", "fiction,science", "--out", dir.File("run")]);
        Assert.True(clean.ExitCode == 0, clean.Stderr);
        return dir.File("run");
    });

    /// <summary>A finished two-stage run in <paramref name="dir"/>: its directory, its journal and the journal's lines.</summary>
    private static (string Run, string Journal, string[] Lines) FinishedTwoStageRun(TempDir dir) => CopyOfRun(SharedTwoStageRun.Value, dir);

    /// <summary>A copy of the run directory <paramref name="source"/> in <paramref name="dir"/>, to damage: its directory, its journal and the journal's lines.</summary>
    internal static (string Run, string Journal, string[] Lines) CopyOfRun(string source, TempDir dir)
    {
        var run = dir.File("run");
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(run, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }

        var journal = Path.Combine(run, RunJournal.FileName);
        return (run, journal, File.ReadAllLines(journal));
    }

    /// <summary>sha256 of every file of each stage directory of <paramref name="run"/>, by stage and file name.</summary>
    private static Dictionary<string, string> StageFiles(string run) =>
        Directory.GetDirectories(run, "stage-*").SelectMany(Directory.GetFiles)
            .ToDictionary(f => Path.GetRelativePath(run, f), Copal.Model.FileDigest.Sha256);

    /// <summary>The state column of `copal status`'s stage table by stage, without whitespace: the table wraps a long state anywhere.</summary>
    internal static Dictionary<int, string> States(string stdout)
    {
        var states = new Dictionary<int, string>();
        var stage = 0;
        foreach (var cells in stdout.Split('\n').Where(l => l.StartsWith('│')).Select(l => l.Split('│')))
        {
            if (int.TryParse(cells[1], out var number))
            {
                stage = number;
            }
            else if (cells[1].Trim().Length > 0)
            {
                // The header row.
                continue;
            }

            states[stage] = states.GetValueOrDefault(stage, string.Empty) + WithoutWhitespace(cells[3]);
        }

        return states;
    }

    private static string WithoutWhitespace(string text) => string.Concat(text.Where(c => !char.IsWhiteSpace(c)));

    [Fact]
    public void ADamagedStageJsonIsReportedByStatusAndItsStageRecomputed()
    {
        using var dir = new TempDir();
        var (run, _, _) = FinishedTwoStageRun(dir);
        var clean = StageFiles(run);

        var manifest = Path.Combine(run, "stage-1-fiction", "stage.json");
        var text = File.ReadAllText(manifest);
        File.WriteAllText(manifest, text[..(text.Length / 2)]);

        var status = CopalCli.Run("status", run);
        Assert.True(status.ExitCode == 0, status.Stderr);
        var damaged = States(status.Stdout)[1];
        Assert.StartsWith("damaged(", damaged);
        Assert.Contains(WithoutWhitespace(manifest), damaged);

        // Resume recomputes every stage after the first it cannot reuse: status says so of stage 2.
        Assert.Equal("committed,butwillberecomputedafterstage1", States(status.Stdout)[2]);

        var resumed = CopalCli.Run("resume", run);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains($"Stage 1: {manifest} does not match its journaled sha256; recomputing it", resumed.Stderr);
        Assert.Equal(clean, StageFiles(run));

        status = CopalCli.Run("status", run);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.Equal(new Dictionary<int, string> { [1] = "done", [2] = "done" }, States(status.Stdout));
    }

    [Fact]
    public void AStageStartedAgainAfterItsCommitIsRunningToALiveReadAndReusableToResume()
    {
        using var dir = new TempDir();
        var (run, journal, _) = FinishedTwoStageRun(dir);
        File.AppendAllLines(journal, [JsonSerializer.Serialize(new JournalEntry(JournalEntry.StageStarted, 1, "fiction"))]);

        // A live coordinator appends the start only when it recomputes the stage.
        var live = Coordinator.Monitoring.RunStatus.Read(run, verify: false);
        Assert.Equal(["running", "committed, but will be recomputed after stage 1"], live.Stages.Select(s => s.State));

        // Cut short, the recompute left the verified stage in place: resume reuses it.
        var verified = Coordinator.Monitoring.RunStatus.Read(run, verify: true);
        Assert.Equal(["done", "done"], verified.Stages.Select(s => s.State));
    }

    [Fact]
    public void AStageJsonAnOlderJournalDidNotCoverIsStillChecked()
    {
        using var dir = new TempDir();
        var (run, journal, lines) = FinishedTwoStageRun(dir);

        // Older versions committed only the shard and accumulator files.
        File.WriteAllLines(journal, lines.Select(line =>
        {
            var entry = JsonSerializer.Deserialize<JournalEntry>(line)!;
            return entry.Files is null ? line : JsonSerializer.Serialize(entry with { Files = entry.Files.Where(f => f.Key.EndsWith(".safetensors", StringComparison.Ordinal)).ToDictionary() });
        }));
        var manifest = Path.Combine(run, "stage-1-fiction", "stage.json");
        File.WriteAllText(manifest, "{");

        var status = CopalCli.Run("status", run);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.StartsWith(WithoutWhitespace($"damaged({manifest} is unreadable"), States(status.Stdout)[1]);

        var resumed = CopalCli.Run("resume", run);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains($"Stage 1: {manifest} is unreadable", resumed.Stderr);
        Assert.Contains("recomputing it and every later stage", resumed.Stderr);
    }

    [Fact]
    public void ADamagedConfigCopyInAStageIsRecomputed()
    {
        using var dir = new TempDir();
        var (run, _, _) = FinishedTwoStageRun(dir);
        var clean = StageFiles(run);

        var config = Path.Combine(run, "stage-2-science", "config.json");
        File.WriteAllText(config, "{");

        var resumed = CopalCli.Run("resume", run);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains($"Stage 2: {config} does not match its journaled sha256; recomputing it", resumed.Stderr);
        Assert.Contains("Stage 1 (fiction) is committed and verified", resumed.Stderr);
        Assert.Equal(clean, StageFiles(run));
    }

    [Fact]
    public void AJournalLineTornByACrashIsCutOffAndTheRunGoesOnAfterIt()
    {
        using var dir = new TempDir();
        var (run, journal, lines) = FinishedTwoStageRun(dir);

        // A crash while stage 2's commit was being appended: half its line, nothing after it.
        var commit = Array.FindIndex(lines, l => l.Contains("\"stage-committed\",\"Stage\":2", StringComparison.Ordinal));
        File.WriteAllText(journal, string.Concat(lines[..commit].Select(l => l + "\n")) + lines[commit][..(lines[commit].Length / 2)]);
        var torn = File.ReadAllBytes(journal);

        // status only reads: it passes over the torn line and leaves it in place.
        var status = CopalCli.Run("status", run);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.Contains("running", status.Stdout);
        Assert.Equal(torn, File.ReadAllBytes(journal));

        var resumed = CopalCli.Run("resume", run);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        var after = File.ReadAllLines(journal);
        Assert.All(after, l => JsonDocument.Parse(l).Dispose());
        Assert.Contains("\"run-completed\"", after[^1]);
        Assert.Contains("torn by a crash", resumed.Stderr);

        status = CopalCli.Run("status", run);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.DoesNotContain("running", status.Stdout);
        Assert.Contains("last event: run-completed", status.Stdout);
        var again = CopalCli.Run("resume", run);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal(2, again.Stderr.Split('\n').Count(l => l.Contains("committed and verified", StringComparison.Ordinal)));
    }

    [Fact]
    public void AJournalDamagedBeforeItsLastLineIsRefusedAndLeftAsItIs()
    {
        using var dir = new TempDir();
        var (run, journal, lines) = FinishedTwoStageRun(dir);

        // No crash does this: line 3 of 8 cut short, whole lines after it.
        lines[2] = lines[2][..(lines[2].Length / 2)];
        File.WriteAllLines(journal, lines);
        var damaged = File.ReadAllBytes(journal);

        foreach (var command in new[] { new[] { "resume", run }, ["status", run], [.. Run, "--datasets", "fiction,science", "--out", run, "--resume-existing"] })
        {
            var refused = CopalCli.Run(command);
            Assert.True(refused.ExitCode == 2, refused.Stderr);
            Assert.Contains($"{journal}: line 3 ", refused.Stderr);
        }

        Assert.Equal(damaged, File.ReadAllBytes(journal));
    }

    [Fact]
    public void ResumingAFinishedRunRecomputesNothing()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CopalCli.Run([.. Run, "--out", dir.File("run")]).ExitCode);
        var resumed = CopalCli.Run("resume", dir.File("run"));
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Equal(3, resumed.Stderr.Split('\n').Count(l => l.Contains("committed and verified", StringComparison.Ordinal)));
    }

    /// <summary>Stages stored as masks, written by nodes and read back by the next stage's evaluation.</summary>
    [Fact]
    public async Task ANodeKilledDuringStageTwoLeavesTheResultUnchanged()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("COPAL_CHAOS_SEED"), out var s) ? s : 1;
        using var dir = new TempDir();
        var clean = CopalCli.Run([.. Run, "--store", "masks", "--out", dir.File("clean")]);
        Assert.True(clean.ExitCode == 0, clean.Stderr);

        using var chaos = new ChaosHarness([.. Run, "--store", "masks", "--out", dir.File("chaos"), "--nodes", "3", "--node-timeout", "60", "--replace-timeout", "5"]);
        ChaosHarness.WaitForJournal(dir.File("chaos"), "\"stage-started\",\"Stage\":2", TimeSpan.FromMinutes(3));
        var random = new Random(seed);
        Thread.Sleep(random.Next(0, 400));
        var nodes = chaos.NodePids();
        Assert.Equal(3, nodes.Count);
        ChaosHarness.Kill(nodes[random.Next(nodes.Count)]);

        var exit = chaos.WaitForExit(TimeSpan.FromMinutes(6));
        Assert.True(exit == 0, await chaos.Stderr);
        Assert.True(File.Exists(Path.Combine(dir.File("chaos"), Stages[2], Copal.Model.MaskedCheckpoint.FileName)));
        AssertSameCheckpoints(dir.File("clean"), dir.File("chaos"));
    }

    /// <summary>Stages stored as masks, as the Kubernetes manifests run it: the resumed run reads the committed ones through their masks.</summary>
    [Fact]
    public void TheCoordinatorKilledDuringStageTwoResumesToTheSameResult()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("COPAL_CHAOS_SEED"), out var s) ? s : 1;
        using var dir = new TempDir();
        var clean = CopalCli.Run([.. Run, "--store", "masks", "--out", dir.File("clean")]);
        Assert.True(clean.ExitCode == 0, clean.Stderr);

        // The command a coordinator pod runs: the same one again after a restart.
        string[] command = [.. Run, "--store", "masks", "--out", dir.File("chaos"), "--nodes", "3", "--node-timeout", "60", "--resume-existing"];
        using (var chaos = new ChaosHarness(command))
        {
            ChaosHarness.WaitForJournal(dir.File("chaos"), "\"stage-started\",\"Stage\":2", TimeSpan.FromMinutes(3));
            Thread.Sleep(new Random(seed).Next(0, 400));
            var nodes = chaos.NodePids();
            Assert.Equal(3, nodes.Count);
            ChaosHarness.Kill(chaos.Pid);

            // The nodes it started notice that it is gone and stop by themselves.
            Assert.True(ChaosHarness.WaitUntilGone(nodes, TimeSpan.FromSeconds(30)), "node processes outlived their coordinator");
        }

        var resumed = CopalCli.Run(command);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("holds this run: resuming it", resumed.Stderr);
        AssertSameCheckpoints(dir.File("clean"), dir.File("chaos"));
    }

    [Fact]
    public void ResumeExistingRefusesARunWithOtherSettings()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CopalCli.Run([.. Run, "--datasets", "fiction", "--out", dir.File("run")]).ExitCode);
        var other = CopalCli.Run([.. Run, "--datasets", "fiction", "--sparsity", "0.6", "--out", dir.File("run"), "--resume-existing"]);
        Assert.Equal(2, other.ExitCode);
        Assert.Contains("holds a run with other settings", other.Stderr);
    }
}
