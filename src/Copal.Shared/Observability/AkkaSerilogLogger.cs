using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using Serilog.Events;

namespace Copal.Observability;

/// <summary>
/// Akka's logger (akka.loggers): its events go to Serilog, so they come out in the process's
/// format (JSON lines in containers) with the run, stage and node fields of every other event.
/// A few lines instead of Akka.Logger.Serilog, which brings Akka.Hosting and OpenTelemetry along.
/// </summary>
public sealed class AkkaSerilogLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public AkkaSerilogLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<Akka.Event.LogEvent>(e => Serilog.Log.Write(Level(e.LogLevel()), e.Cause, "Akka {AkkaSource}: {AkkaMessage:l}", e.LogSource, e.Message?.ToString()));
    }

    private static LogEventLevel Level(LogLevel level) => level switch
    {
        LogLevel.DebugLevel => LogEventLevel.Debug,
        LogLevel.InfoLevel => LogEventLevel.Information,
        LogLevel.WarningLevel => LogEventLevel.Warning,
        _ => LogEventLevel.Error,
    };
}
