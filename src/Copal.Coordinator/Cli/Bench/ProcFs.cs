using System.Globalization;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>What Linux's /proc tells about a live process: its peak resident set, its children, its arguments.</summary>
public static class ProcFs
{
    /// <summary>VmHWM (the peak resident set so far) of a live process, in bytes; 0 once it is gone.</summary>
    public static long PeakRss(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    var kb = line["VmHWM:".Length..].Trim().Split(' ')[0];
                    return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    /// <summary>The processes <paramref name="pid"/> started that still run (every thread's children); empty once it is gone.</summary>
    public static IReadOnlyList<int> Children(int pid)
    {
        var children = new List<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                var text = File.ReadAllText(Path.Combine(task, "children"));
                children.AddRange(text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)));
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return children;
    }

    /// <summary>The value that follows <paramref name="option"/> on the process's command line, or null (also once it is gone).</summary>
    public static string? Argument(int pid, string option)
    {
        try
        {
            var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            var at = Array.IndexOf(args, option);
            return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>MemAvailable of /proc/meminfo: what can be allocated without swapping, in bytes.</summary>
    public static long MemAvailable()
    {
        var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
        return long.Parse(line["MemAvailable:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }
}
