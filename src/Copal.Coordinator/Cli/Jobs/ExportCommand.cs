using System.CommandLine;
using Copal.Stages;
using Serilog;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>`copal export STAGE_DIR --out DIR`: a stage as the self-contained Hugging Face checkpoint `--store full` writes.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var stage = new Argument<string>("STAGE_DIR") { Description = "a stage directory of a run (stored as masks or in full)" };
        var output = new Option<string>("--out") { Description = "the checkpoint directory to write; must not exist", Required = true };
        var command = new Command("export", "Write a stage as the self-contained checkpoint --store full writes, with byte-identical tensors") { stage, output };
        command.SetAction(result =>
        {
            var from = result.GetValue(stage)!;
            var to = result.GetValue(output)!;
            StageExport.Run(from, to);
            Log.Information("Exported {Stage} to {Out}", from, to);
            return 0;
        });
        return command;
    }
}
