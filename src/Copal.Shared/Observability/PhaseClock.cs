using System.Diagnostics;

namespace Copal.Observability;

/// <summary>
/// Times the phases of the work (forward, importance, mask, evaluate) into
/// <see cref="CopalMetrics.PhaseSeconds"/>. Phases nest on a thread: the importance statistics
/// gathered inside a forward are counted as importance, not also as forward, so the phases add
/// up to the time spent.
/// </summary>
public static class PhaseClock
{
    public const string Forward = "forward";
    public const string Importance = "importance";
    public const string Mask = "mask";
    public const string Evaluate = "evaluate";

    [ThreadStatic]
    private static Running? current;

    /// <summary>Starts timing <paramref name="phase"/> on this thread until the result is disposed.</summary>
    public static IDisposable Measure(string phase)
    {
        current = new Running(phase, current);
        return current;
    }

    private sealed class Running(string phase, Running? outer) : IDisposable
    {
        private readonly long started = Stopwatch.GetTimestamp();
        private TimeSpan nested;
        private bool stopped;

        public void Dispose()
        {
            if (stopped)
            {
                return;
            }

            stopped = true;
            var elapsed = Stopwatch.GetElapsedTime(started);
            CopalMetrics.PhaseSeconds.WithLabels(phase).Inc(Math.Max(0, (elapsed - nested).TotalSeconds));
            if (outer != null)
            {
                outer.nested += elapsed;
            }

            current = outer;
        }
    }
}
