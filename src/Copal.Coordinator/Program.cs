using System.CommandLine;
using Copal;
using Copal.Coordinator.Cli.Bench;
using Copal.Coordinator.Cli.Hosting;
using Copal.Coordinator.Cli.Jobs;
using Serilog;

var logLevel = CommonOptions.LogLevel();
var logFile = CommonOptions.LogFile();
var root = new RootCommand("Copal: continual pruning of LLaMA-family models (COPAL, ICML 2024)")
{
    logLevel,
    logFile,
    EvalCommand.Create(),
    PruneCommand.Create(),
    BenchCommand.Create(),
    PlanCommand.Create(),
    ResumeCommand.Create(),
    ExtendCommand.Create(),
    StatusCommand.Create(),
    ExportCommand.Create(),
};

try
{
    var parsed = root.Parse(args);
    if (parsed.Errors.Count > 0 && parsed.Action is not System.CommandLine.Help.HelpAction)
    {
        return InputError.Report(parsed.Errors.Select(e => e.Message));
    }

    Logging.Configure(parsed.GetValue(logLevel), parsed.GetValue(logFile));
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (CopalInputException e)
{
    return InputError.Report([e.Message]);
}
catch (Exception e) when (DiskFull.Cause(e) is { } full)
{
    // Not a fault of copal's: no stack trace, the OS's message names the file.
    Log.Fatal("Stopped, the disk is full: {Reason:l}. Free space, then `copal resume` continues the run from its last committed stage", full.Message);
    return 1;
}
catch (Exception e)
{
    Log.Fatal(e, "copal failed");
    return 1;
}
finally
{
    Log.CloseAndFlush();
}
