using Serilog;
using Spectre.Console;

namespace Copal.Coordinator.Cli.Hosting;

/// <summary>
/// Shows <see cref="WorkProgress"/> as Spectre.Console bars on a terminal, or as log lines when
/// output is redirected (CI, containers), where live bars would only add noise.
/// </summary>
public static class ConsoleProgress
{
    public static T Run<T>(Func<IProgress<WorkProgress>, T> work)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            return work(new LogProgress());
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

    private sealed class LogProgress : IProgress<WorkProgress>
    {
        public void Report(WorkProgress value)
        {
            if (value.Done == value.Total)
            {
                Log.Information("{Task}: done ({Total} steps)", value.Task, value.Total);
            }
            else
            {
                Log.Debug("{Task}: {Done}/{Total}", value.Task, value.Done, value.Total);
            }
        }
    }
}
