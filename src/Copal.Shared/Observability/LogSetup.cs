using Copal.Cluster;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Copal.Observability;

/// <summary>
/// Console logging for Copal processes: JSON lines (one compact-JSON object per event) when
/// COPAL_LOG_FORMAT=json or when the output is not a terminal (a container, a pipe), readable
/// text on a terminal or with COPAL_LOG_FORMAT=text. Every event carries the run id, stage and
/// node of <see cref="LogFields"/> where they are known.
/// </summary>
public static class LogSetup
{
    public const string TextTemplate = "[{Timestamp:HH:mm:ss} {Level:u3}]{NodeTag}{StageTag} {Message:lj}{NewLine}{Exception}";

    /// <summary>True when events should be JSON lines on a stream that is (or is not) redirected.</summary>
    public static bool UseJson(bool redirected)
    {
        var format = EnvironmentVariables.Get(EnvironmentVariables.LogFormat)?.ToLowerInvariant();
        return format switch
        {
            "json" => true,
            "text" => false,
            null => redirected,
            _ => throw new CopalInputException($"{EnvironmentVariables.LogFormat}={format}: expected json or text"),
        };
    }

    /// <summary>A logger configuration writing to stdout (<paramref name="toStdout"/>) or stderr, in the format chosen by <see cref="UseJson"/>.</summary>
    public static LoggerConfiguration Console(LogEventLevel level, bool toStdout)
    {
        var redirected = toStdout ? System.Console.IsOutputRedirected : System.Console.IsErrorRedirected;
        var json = UseJson(redirected);
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .Enrich.FromLogContext()
            .Enrich.With(new LogFields.Enricher(textTags: !json));
        var errorFrom = toStdout ? (LogEventLevel?)null : LogEventLevel.Verbose;
        return json
            ? config.WriteTo.Console(new RenderedCompactJsonFormatter(), standardErrorFromLevel: errorFrom)
            : config.WriteTo.Console(outputTemplate: TextTemplate, standardErrorFromLevel: errorFrom);
    }
}

/// <summary>
/// Process-wide log properties (RunId, Stage, Node), added to every event once set. Unlike
/// LogContext they reach events logged on actor and worker threads too.
/// </summary>
public static class LogFields
{
    private static volatile string? runId;
    private static volatile string? node;
    private static int stage;

    public static string? RunId
    {
        get => runId;
        set => runId = value;
    }

    public static string? Node
    {
        get => node;
        set => node = value;
    }

    /// <summary>1-based stage index; 0 when not in a stage.</summary>
    public static int Stage
    {
        get => Volatile.Read(ref stage);
        set => Volatile.Write(ref stage, value);
    }

    /// <summary>Adds the fields that are set; for text output also NodeTag/StageTag.</summary>
    public sealed class Enricher(bool textTags) : ILogEventEnricher
    {
        public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
        {
            var n = Node;
            var r = RunId;
            var s = Stage;
            if (r != null)
            {
                logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty("RunId", r));
            }

            if (n != null)
            {
                logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty("Node", n));
            }

            if (s > 0)
            {
                logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty("Stage", s));
            }

            if (!textTags)
            {
                return;
            }

            logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty("NodeTag", n is null ? string.Empty : " " + n));
            logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty("StageTag", s > 0 ? $" stage {s}" : string.Empty));
        }
    }
}
