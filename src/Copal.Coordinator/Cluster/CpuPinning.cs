using System.Diagnostics;
using System.Globalization;

namespace Copal.Coordinator.Cluster;

/// <summary>
/// Starts programs pinned to CPUs with taskset (util-linux). The affinity is set before the
/// program starts, so every thread it makes (the runtime's, torch's) stays on those CPUs and .NET
/// sizes its thread pool and GC to them; pinning from inside would leave the threads already started.
/// </summary>
public static class CpuPinning
{
    private const string Taskset = "taskset";
    private const string StatusFile = "/proc/self/status";

    /// <summary>A start of <paramref name="program"/> on <paramref name="cpus"/> (a CPU list such as "0" or "0-3"), or on any CPU when null.</summary>
    public static ProcessStartInfo Start(string program, string? cpus)
    {
        if (cpus is null)
        {
            return new ProcessStartInfo(program);
        }

        var start = new ProcessStartInfo(Taskset);
        start.ArgumentList.Add("--cpu-list");
        start.ArgumentList.Add(cpus);
        start.ArgumentList.Add(program);
        return start;
    }

    /// <summary>Whether taskset is on the PATH (Linux with util-linux).</summary>
    public static bool Available =>
        OperatingSystem.IsLinux() && (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, Taskset)));

    /// <summary>The CPUs this process may run on (its affinity), in order.</summary>
    public static IReadOnlyList<int> Allowed()
    {
        if (!File.Exists(StatusFile))
        {
            return [];
        }

        var line = File.ReadLines(StatusFile).FirstOrDefault(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal));
        return line is null ? [] : Expand(line["Cpus_allowed_list:".Length..].Trim());
    }

    /// <summary>The CPUs of a list such as "0-3,6"; null when it is not one.</summary>
    public static IReadOnlyList<int>? TryExpand(string list)
    {
        var cpus = new List<int>();
        foreach (var part in list.Split(','))
        {
            var bounds = part.Split('-');
            if (bounds.Length > 2 || !bounds.All(b => int.TryParse(b, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                return null;
            }

            var (first, last) = (int.Parse(bounds[0], CultureInfo.InvariantCulture), int.Parse(bounds[^1], CultureInfo.InvariantCulture));
            if (last < first)
            {
                return null;
            }

            cpus.AddRange(Enumerable.Range(first, last - first + 1));
        }

        return cpus;
    }

    private static IReadOnlyList<int> Expand(string list) => TryExpand(list) ?? throw new FormatException($"'{list}' is not a CPU list");
}
