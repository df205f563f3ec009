using System.CommandLine;
using Copal.Pruning;
using Copal.Runs;
using Spectre.Console;

namespace Copal.Coordinator.Cli;

/// <summary>`copal status RUN_DIR`: which stages are done, which is running, which nodes held what.</summary>
public static class StatusCommand
{
    public static Command Create()
    {
        var runDir = new Argument<string>("RUN_DIR") { Description = "the --out directory of a run" };
        var command = new Command("status", "Show the state of a run from its journal and stage manifests") { runDir };
        command.SetAction(result => Show(result.GetValue(runDir)!));
        return command;
    }

    private static int Show(string directory)
    {
        var spec = RunSpec.Load(directory);
        var journal = RunJournal.Open(directory);
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(directory)}[/]: {spec.Settings.Method} / {spec.Settings.Strategy} over {string.Join(" -> ", spec.Datasets)}");
        var table = new Table().AddColumns("stage", "dataset", "state", "shards (layers)");
        foreach (var (dataset, index) in spec.Datasets.Select((d, i) => (d, i + 1)))
        {
            var stageDir = Path.Combine(directory, StageCheckpoint.DirectoryName(index, dataset));
            var state = State(journal, index, dataset, stageDir);
            var shards = File.Exists(Path.Combine(stageDir, StageCheckpoint.ManifestFile))
                ? string.Join(", ", StageCheckpoint.ReadManifest(stageDir).Reports.Select(r => $"{r.FirstLayer}-{r.LastLayer}"))
                : "-";
            table.AddRow(index.ToString(), dataset, state, shards);
        }

        AnsiConsole.Write(table);
        var last = journal.Entries.LastOrDefault();
        Console.WriteLine(last is null ? "journal: empty" : $"last event: {last.Event} (stage {last.Stage}) at {last.Time:u}");
        return 0;
    }

    private static string State(RunJournal journal, int stage, string dataset, string directory)
    {
        if (journal.Last(JournalEntry.StageEvaluated, stage) != null && journal.VerifiedCommit(stage, dataset, directory, out _) != null)
        {
            return "done";
        }

        if (journal.Last(JournalEntry.StageCommitted, stage) != null)
        {
            return journal.VerifiedCommit(stage, dataset, directory, out var problem) != null ? "committed, evaluating" : $"damaged ({problem}): will be recomputed";
        }

        return journal.Last(JournalEntry.StageStarted, stage) != null ? "running" : "pending";
    }
}
