using System.Diagnostics;

namespace Copal;

/// <summary>
/// Times the phases of the work (forward, importance, mask, evaluate), process-wide. Phases nest
/// on a thread: the importance statistics gathered inside a forward are counted as importance,
/// not also as forward, so the phases add up to the time spent. The totals are plain data:
/// observability exports them, benchmarks read them.
/// </summary>
public static class PhaseClock
{
    public const string Forward = "forward";
    public const string Importance = "importance";
    public const string Mask = "mask";
    public const string Evaluate = "evaluate";

    /// <summary>Every phase, in the order reports list them.</summary>
    public static IReadOnlyList<string> Phases => Names;

    private static readonly string[] Names = [Forward, Importance, Mask, Evaluate];

    private static readonly long[] Ticks = new long[Names.Length];

    [ThreadStatic]
    private static Running? current;

    /// <summary>Seconds spent in <paramref name="phase"/> by this process so far.</summary>
    public static double Seconds(string phase) => TimeSpan.FromTicks(Interlocked.Read(ref Ticks[IndexOf(phase)])).TotalSeconds;

    private static int IndexOf(string phase)
    {
        var index = Array.IndexOf(Names, phase);
        return index >= 0 ? index : throw new ArgumentException($"unknown phase '{phase}'", nameof(phase));
    }

    /// <summary>Starts timing <paramref name="phase"/> on this thread until the result is disposed.</summary>
    public static IDisposable Measure(string phase)
    {
        current = new Running(phase, current);
        return current;
    }

    private sealed class Running(string phase, Running? outer) : IDisposable
    {
        private readonly int index = IndexOf(phase);
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
            Interlocked.Add(ref Ticks[index], Math.Max(0, (elapsed - nested).Ticks));
            if (outer != null)
            {
                outer.nested += elapsed;
            }

            current = outer;
        }
    }
}
