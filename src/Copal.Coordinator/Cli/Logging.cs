using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Copal.Coordinator.Cli;

/// <summary>Serilog set-up shared by every command: stderr (so stdout stays for results) and an optional file.</summary>
public static class Logging
{
    public static void Configure(LogEventLevel level, string? file)
    {
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .Enrich.FromLogContext()
            .WriteTo.Console(
                outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}",
                standardErrorFromLevel: LogEventLevel.Verbose);
        if (file != null)
        {
            config = config.WriteTo.File(new CompactJsonFormatter(), file);
        }

        Log.Logger = config.CreateLogger();
    }
}
