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

    /// <summary>
    /// The live processes whose parent is <paramref name="pid"/>, from every process's stat (the
    /// per-thread children lists miss a child whose forking thread has exited).
    /// </summary>
    public static IReadOnlyList<int> Children(int pid)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var candidate))
            {
                continue;
            }

            try
            {
                // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1], CultureInfo.InvariantCulture) == pid)
                {
                    children.Add(candidate);
                }
            }
            catch (IOException)
            {
                // Gone since the listing.
            }
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
