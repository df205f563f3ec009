using System.Text;
using Serilog;

namespace Copal.Runs;

/// <summary>
/// The durable record of a run: an append-only file of JSON lines, each flushed to disk before
/// the run goes on. A stage counts as done only through its commit line, written after its
/// files are durable and verified. Entries are appended one at a time, so a crash can tear only
/// the last line: that line is ignored on reading, and cut off before the run appends again.
/// </summary>
public sealed class RunJournal
{
    public const string FileName = "journal.jsonl";

    /// <summary>Null when the journal was read only to look at it.</summary>
    private readonly string? path;
    private readonly List<JournalEntry> entries;

    private RunJournal(string? path, List<JournalEntry> entries)
    {
        this.path = path;
        this.entries = entries;
    }

    public IReadOnlyList<JournalEntry> Entries => entries;

    /// <summary>Opens the journal of a run that goes on: a torn last line is cut off, so the next entry starts a line of its own.</summary>
    public static RunJournal Open(string runDirectory)
    {
        var path = Path.Combine(runDirectory, FileName);
        var (entries, complete, length) = Parse(path);
        if (complete < length)
        {
            Log.Warning("{Journal}: its last line was torn by a crash while it was written; cutting off those {Bytes} bytes", path, length - complete);
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read);
            file.SetLength(complete);
            file.Flush(flushToDisk: true);
        }

        return new RunJournal(path, entries);
    }

    /// <summary>Reads the journal without changing it (its run may be writing it right now): a torn last line is ignored.</summary>
    public static RunJournal Read(string runDirectory) => new(null, Parse(Path.Combine(runDirectory, FileName)).Entries);

    /// <summary>The entries of the complete lines and the length of the file they fill; what follows is a torn last line.</summary>
    private static (List<JournalEntry> Entries, long Complete, long Length) Parse(string path)
    {
        var entries = new List<JournalEntry>();
        var bytes = File.Exists(path) ? File.ReadAllBytes(path) : [];
        var start = 0;
        for (var number = 1; ; number++)
        {
            var end = Array.IndexOf(bytes, (byte)'\n', start);
            if (end < 0)
            {
                // An unterminated last line: its append never finished.
                break;
            }

            try
            {
                entries.Add(CopalJson.Deserialize<JournalEntry>(Encoding.UTF8.GetString(bytes, start, end - start)));
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
            {
                if (end == bytes.Length - 1)
                {
                    // The last line, garbled: its append never reached the disk whole.
                    break;
                }

                // Not something a crash leaves: refusing beats silently dropping every later entry.
                throw new CopalInputException($"{path}: line {number} is not a journal entry ({e.Message}), yet lines follow it; a crash tears only the last line, so the journal was damaged otherwise: restore it, or start the run again");
            }

            start = end + 1;
        }

        return (entries, start, bytes.Length);
    }

    public void Append(JournalEntry entry)
    {
        var file = path ?? throw new InvalidOperationException("the journal was read to look at it, not opened to append to it");
        entry = entry with { Time = DateTime.UtcNow };
        var created = !File.Exists(file);
        using (var f = new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.Read))
        {
            f.Write(Encoding.UTF8.GetBytes(CopalJson.Serialize(entry) + "\n"));
            f.Flush(flushToDisk: true);
        }

        if (created)
        {
            // The file's own fsync does not make its name durable: without this a power loss could lose the whole journal.
            Model.DirectorySync.FlushParent(file);
        }

        entries.Add(entry);
    }

    public JournalEntry? Last(string @event, int stage) => LastIndex(@event, stage) is var i and >= 0 ? entries[i] : null;

    /// <summary>True when the stage was started again after its last commit: a recompute, under way or cut short.</summary>
    public bool StartedSinceCommit(int stage) => LastIndex(JournalEntry.StageStarted, stage) > LastIndex(JournalEntry.StageCommitted, stage);

    /// <summary>True when the stage's accumulator files were dropped after its last commit: their absence is no damage.</summary>
    public bool AccumulatorDropped(int stage) => LastIndex(JournalEntry.AccumulatorDropped, stage) > LastIndex(JournalEntry.StageCommitted, stage);

    /// <summary>How many stages from the first the journal commits for these datasets, unverified: those need no calibration split.</summary>
    public int CommittedPrefix(IReadOnlyList<string> datasets) =>
        datasets.TakeWhile((d, i) => Last(JournalEntry.StageCommitted, i + 1)?.Dataset == d).Count();

    private int LastIndex(string @event, int stage) => entries.FindLastIndex(e => e.Event == @event && e.Stage == stage);

    /// <summary>The stage's commit, if the journal has one and every file on disk still matches it.</summary>
    public JournalEntry? VerifiedCommit(int stage, string dataset, string directory, out string? problem)
    {
        problem = null;
        var commit = Last(JournalEntry.StageCommitted, stage);
        if (commit is null || commit.Dataset != dataset || commit.Files is null)
        {
            return null;
        }

        var dropped = AccumulatorDropped(stage) ? Last(JournalEntry.AccumulatorDropped, stage)!.Files?.Keys.ToHashSet() ?? [] : [];
        foreach (var (file, sha) in commit.Files.Where(f => !dropped.Contains(f.Key)))
        {
            var full = Path.Combine(directory, file);
            if (!File.Exists(full))
            {
                problem = $"{full} is missing";
                return null;
            }

            if (Model.FileDigest.Sha256(full) != sha)
            {
                problem = $"{full} does not match its journaled sha256";
                return null;
            }
        }

        problem = Model.MaskedCheckpoint.BaseProblem(directory);
        if (problem != null)
        {
            return null;
        }

        return commit;
    }
}
