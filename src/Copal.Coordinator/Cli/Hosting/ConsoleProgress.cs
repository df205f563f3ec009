using Serilog;
using Serilog.Events;
using Spectre.Console;

namespace Copal.Coordinator.Cli.Hosting;

/// <summary>
/// Shows <see cref="WorkProgress"/> as Spectre.Console bars on a terminal, or as log lines when
/// output is redirected (CI, containers), where live bars would only add noise.
/// </summary>
public static class ConsoleProgress
{
    /// <param name="doneLevel">The level of a finished task's log line when output is redirected: Debug for the checks before a run, whose refusals must stay one line.</param>
    public static T Run<T>(Func<IProgress<WorkProgress>, T> work, LogEventLevel doneLevel = LogEventLevel.Information)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            return work(new LogProgress(doneLevel));
        }

        return AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx => work(new BarProgress(ctx)));
    }

    private sealed class BarProgress(ProgressContext context) : IProgress<WorkProgress>
    {
        private readonly Dictionary<string, ProgressTask> tasks = new();

        public void Report(WorkProgress value)
        {
            if (!tasks.TryGetValue(value.Task, out var task))
            {
                task = context.AddTask(Markup.Escape(value.Task), maxValue: Math.Max(1, value.Total));
                tasks[value.Task] = task;
            }

            task.MaxValue = Math.Max(1, value.Total);
            task.Value = value.Done;
        }
    }

    private sealed class LogProgress(LogEventLevel doneLevel) : IProgress<WorkProgress>
    {
        public void Report(WorkProgress value)
        {
            if (value.Done == value.Total)
            {
                Log.Write(doneLevel, "{Task}: done ({Total} steps)", value.Task, value.Total);
            }
            else
            {
                Log.Debug("{Task}: {Done}/{Total}", value.Task, value.Done, value.Total);
            }
        }
    }
}
