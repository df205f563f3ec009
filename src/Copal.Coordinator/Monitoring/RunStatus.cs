using Copal.Runs;
using Copal.Stages;

namespace Copal.Coordinator.Monitoring;

/// <summary>The state of a run: from its directory, plus the live part when a coordinator answers.</summary>
public sealed record RunStatus(
    string RunDirectory,
    string Method,
    string Strategy,
    IReadOnlyList<string> Datasets,
    IReadOnlyList<StageStatus> Stages,
    string? LastEvent,
    LiveStatus? Live = null)
{
    /// <summary>
    /// Reads a run directory. With <paramref name="verify"/> every committed file is hashed
    /// against the journal (what `copal resume` would trust); without, the journal is taken at
    /// its word (cheap enough for a live endpoint polled during a 65B run).
    /// </summary>
    public static RunStatus Read(string directory, bool verify)
    {
        var spec = RunSpec.Load(directory);
        var journal = RunJournal.Read(directory);
        var stages = new List<StageStatus>();

        // Resume reuses only an unbroken chain of commits: the first stage it cannot reuse recomputes every later one.
        int? recomputedFrom = null;
        foreach (var (dataset, index) in spec.Datasets.Select((d, i) => (d, i + 1)))
        {
            var stageDir = Path.Combine(directory, StageCheckpoint.DirectoryName(index, dataset));
            var manifest = StageCheckpoint.TryReadManifest(stageDir, out var unreadable);
            var shards = manifest?.Reports.Select(r => $"{r.FirstLayer}-{r.LastLayer}").ToList() ?? [];
            var state = State(journal, index, dataset, stageDir, verify, unreadable);
            var reusable = state is Done or Evaluating;
            if (reusable && recomputedFrom is { } from)
            {
                state = $"committed, but will be recomputed after stage {from}";
            }
            else if (!reusable)
            {
                recomputedFrom ??= index;
            }

            var commit = journal.Last(JournalEntry.StageCommitted, index);
            stages.Add(new StageStatus(index, dataset, state, shards, commit?.Dataset == dataset ? commit.Bytes : null));
        }

        var last = journal.Entries.LastOrDefault();
        return new RunStatus(
            Path.GetFullPath(directory),
            spec.Settings.Method.ToString().ToLowerInvariant(),
            spec.Settings.Strategy.ToString().ToLowerInvariant(),
            spec.Datasets,
            stages,
            last is null ? null : $"{last.Event} (stage {last.Stage}) at {last.Time:u}");
    }

    private const string Done = "done";
    private const string Evaluating = "committed, evaluating";

    /// <param name="manifestProblem">Why the stage's manifest could not be read, if it could not: damage once the stage is committed (resume would recompute it).</param>
    private static string State(RunJournal journal, int stage, string dataset, string directory, bool verify, string? manifestProblem)
    {
        string? problem = null;
        // Unverified, the journal is read as a live coordinator writes it: a start after the commit is a recompute under way.
        var committed = journal.Last(JournalEntry.StageCommitted, stage) is { } commit && commit.Dataset == dataset
            && (verify ? journal.VerifiedCommit(stage, dataset, directory, out problem) != null : !journal.StartedSinceCommit(stage));
        if (committed)
        {
            if (manifestProblem is null)
            {
                return journal.Last(JournalEntry.StageEvaluated, stage) != null ? Done : Evaluating;
            }

            problem = manifestProblem;
        }

        if (problem != null)
        {
            return $"damaged ({problem}): will be recomputed";
        }

        return journal.Last(JournalEntry.StageStarted, stage) != null ? "running" : "pending";
    }
}
