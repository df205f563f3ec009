using System.CommandLine;
using Copal;
using Copal.Coordinator.Cli;
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
    StatusCommand.Create(),
};

try
{
    var parsed = root.Parse(args);
    if (parsed.Errors.Count > 0 && parsed.Action is not System.CommandLine.Help.HelpAction)
    {
        // All of them, on one line: "Required command was not provided" alone hid the word that was wrong.
        Console.Error.WriteLine("error: " + string.Join(" ", parsed.Errors.Select(e => e.Message)));
        return 2;
    }

    Logging.Configure(parsed.GetValue(logLevel), parsed.GetValue(logFile));
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (CopalInputException e)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 2;
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
