namespace Copal;

/// <summary>A step of long work, reported to whoever shows progress (a bar, a log, a metric).</summary>
public readonly record struct WorkProgress(string Task, long Done, long Total);
