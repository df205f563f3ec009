using System.Security.Cryptography;
using System.Text;
using Copal.Cluster;

namespace Copal.Runs;

/// <summary>
/// The durable record of a run: an append-only file of JSON lines, each flushed to disk before
/// the run goes on. A stage counts as done only through its commit line, written after its
/// files are durable and verified; a line torn by a crash is ignored on reading.
/// </summary>
public sealed class RunJournal
{
    public const string FileName = "journal.jsonl";

    private readonly string path;
    private readonly List<JournalEntry> entries;

    private RunJournal(string path, List<JournalEntry> entries)
    {
        this.path = path;
        this.entries = entries;
    }

    public IReadOnlyList<JournalEntry> Entries => entries;

    public static RunJournal Open(string runDirectory)
    {
        var path = Path.Combine(runDirectory, FileName);
        var entries = new List<JournalEntry>();
        if (File.Exists(path))
        {
            foreach (var line in File.ReadAllLines(path))
            {
                try
                {
                    entries.Add(WireJson.Deserialize<JournalEntry>(line));
                }
                catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
                {
                    // The tail of a line being written when the process died.
                    break;
                }
            }
        }

        return new RunJournal(path, entries);
    }

    public void Append(JournalEntry entry)
    {
        entry = entry with { Time = DateTime.UtcNow };
        using (var f = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read))
        {
            f.Write(Encoding.UTF8.GetBytes(WireJson.Serialize(entry) + "\n"));
            f.Flush(flushToDisk: true);
        }

        entries.Add(entry);
    }

    public JournalEntry? Last(string @event, int stage) => entries.LastOrDefault(e => e.Event == @event && e.Stage == stage);

    /// <summary>The stage's commit, if the journal has one and every file on disk still matches it.</summary>
    public JournalEntry? VerifiedCommit(int stage, string dataset, string directory, out string? problem)
    {
        problem = null;
        var commit = Last(JournalEntry.StageCommitted, stage);
        if (commit is null || commit.Dataset != dataset || commit.Files is null)
        {
            return null;
        }

        foreach (var (file, sha) in commit.Files)
        {
            var full = Path.Combine(directory, file);
            if (!File.Exists(full))
            {
                problem = $"{full} is missing";
                return null;
            }

            if (Sha256(full) != sha)
            {
                problem = $"{full} does not match its journaled sha256";
                return null;
            }
        }

        return commit;
    }

    public static string Sha256(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
