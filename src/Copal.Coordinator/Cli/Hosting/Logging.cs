using Copal.Observability;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Copal.Coordinator.Cli.Hosting;

/// <summary>
/// Serilog set-up shared by every command: stderr (so stdout stays for results), text unless
/// COPAL_LOG_FORMAT=json (a coordinator pod's log collector reads JSON lines), and an optional file.
/// </summary>
public static class Logging
{
    public static void Configure(LogEventLevel level, string? file)
    {
        var config = LogSetup.Console(level, toStdout: false, jsonWhenRedirected: false, LogSetup.PlainTextTemplate);
        if (file != null)
        {
            // Serilog's file sink drops every event of a file it cannot open, silently.
            WritableFile.Check(file, "--log-file");
            config = config.WriteTo.File(new CompactJsonFormatter(), file);
        }

        Log.Logger = config.CreateLogger();
    }
}
