using System.CommandLine;
using Copal.Coordinator.Cli.Hosting;
using Copal.Runs;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>
/// `copal extend RUN_DIR --datasets D4[,D5...]`: continues a finished run over more datasets, each
/// strategy from what it carries (copal: the accumulator; sequential: the last weights; reset:
/// the dense model). Committed stages are reused; they are only evaluated on the new datasets.
/// </summary>
public static class ExtendCommand
{
    public static Command Create()
    {
        var runDir = new Argument<string>("RUN_DIR") { Description = "the --out directory of a finished run" };
        var datasets = CommonOptions.Datasets("the datasets to continue the sequence with, D4,D5,...");
        datasets.Required = true;
        var data = new Option<string?>("--data") { Description = "directory of the new datasets' splits (default: the run's); the earlier datasets' test splits are read from it where found" };
        var report = CommonOptions.Report();
        var clusterOptions = new ClusterCliOptions();
        var command = new Command("extend", "Continue a finished run over more datasets, from its last committed stage") { runDir, datasets, data, report };
        foreach (var o in clusterOptions.All)
        {
            command.Options.Add(o);
        }

        command.SetAction(result =>
        {
            var directory = result.GetValue(runDir)!;
            var spec = RunSpec.Load(directory);
            var added = CommonOptions.ParseDatasets(result.GetValue(datasets), []);
            var extended = Extended(directory, spec, added, result.GetValue(data));
            return ResumeCommand.Continue(result, directory, extended, clusterOptions, report, extend: true);
        });
        return command;
    }

    /// <summary>The run's spec over the longer sequence; refuses a run not finished or a dataset it has.</summary>
    private static RunSpec Extended(string directory, RunSpec spec, IReadOnlyList<string> added, string? data)
    {
        if (RunJournal.Read(directory).Last(JournalEntry.RunCompleted, spec.Datasets.Count) is null)
        {
            throw new CopalInputException($"{directory}: the run is not finished; `copal resume {directory}` finishes it, then it can be extended");
        }

        if (added.FirstOrDefault(spec.Datasets.Contains) is { } known)
        {
            throw new CopalInputException($"--datasets: '{known}' is already in the run ({string.Join(",", spec.Datasets)})");
        }

        return spec with
        {
            Datasets = [.. spec.Datasets, .. added],
            DataDirectory = data is null ? spec.DataDirectory : Path.GetFullPath(data),
        };
    }
}
