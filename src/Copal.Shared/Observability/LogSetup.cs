using Copal.Cluster;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Copal.Observability;

/// <summary>
/// Console logging for Copal processes: JSON lines (one compact-JSON object per event) with
/// COPAL_LOG_FORMAT=json, readable text with COPAL_LOG_FORMAT=text; unset, each process picks (a
/// node: JSON when its output is not a terminal, as in a container). The level is --log-level or
/// COPAL_LOG_LEVEL. Every event carries the run id, stage and node of <see cref="LogFields"/>
/// where they are known.
/// </summary>
public static class LogSetup
{
    /// <summary>Text lines of a node: which node, in which stage.</summary>
    public const string TaggedTextTemplate = "[{Timestamp:HH:mm:ss} {Level:u3}]{NodeTag}{StageTag} {Message:lj}{NewLine}{Exception}";

    /// <summary>Text lines of a command, whose messages name their stage themselves.</summary>
    public const string PlainTextTemplate = "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}";

    /// <summary>True when events should be JSON lines: as COPAL_LOG_FORMAT says, else <paramref name="unset"/>.</summary>
    public static bool UseJson(bool unset)
    {
        var format = EnvironmentVariables.Get(EnvironmentVariables.LogFormat)?.ToLowerInvariant();
        return format switch
        {
            "json" => true,
            "text" => false,
            null => unset,
            _ => throw new CopalInputException($"{EnvironmentVariables.LogFormat}={format}: expected json or text"),
        };
    }

    /// <summary>A --log-level or COPAL_LOG_LEVEL value (<paramref name="source"/> names it in the error).</summary>
    public static LogEventLevel ParseLevel(string text, string source) =>
        Enum.TryParse<LogEventLevel>(text, ignoreCase: true, out var level) && Enum.IsDefined(level)
            ? level
            : throw new CopalInputException($"{source}: '{text}' is not a log level (Verbose, Debug, Information, Warning, Error or Fatal)");

    /// <summary>
    /// A logger configuration writing to stdout (<paramref name="toStdout"/>) or stderr, as JSON
    /// lines or text in <paramref name="textTemplate"/> (<see cref="UseJson"/>; unset: JSON when
    /// <paramref name="jsonWhenRedirected"/> and the stream is not a terminal).
    /// </summary>
    public static LoggerConfiguration Console(LogEventLevel level, bool toStdout, bool jsonWhenRedirected, string textTemplate)
    {
        var redirected = toStdout ? System.Console.IsOutputRedirected : System.Console.IsErrorRedirected;
        var json = UseJson(jsonWhenRedirected && redirected);
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .Enrich.FromLogContext()
            .Enrich.With(new LogFields.Enricher(textTags: !json));
        var errorFrom = toStdout ? (LogEventLevel?)null : LogEventLevel.Verbose;
        return json
            ? config.WriteTo.Console(new RenderedCompactJsonFormatter(), standardErrorFromLevel: errorFrom)
            : config.WriteTo.Console(outputTemplate: textTemplate, standardErrorFromLevel: errorFrom);
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
