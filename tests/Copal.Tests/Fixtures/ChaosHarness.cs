using System.Diagnostics;

namespace Copal.Tests;

/// <summary>Starts `copal` in the background and kills processes of its run with SIGKILL.</summary>
public sealed class ChaosHarness : IDisposable
{
    private readonly Process process;

    public ChaosHarness(params string[] args)
        : this(new Dictionary<string, string>(), args)
    {
    }

    /// <summary>Starts copal with <paramref name="environment"/> added to this process's.</summary>
    public ChaosHarness(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        process = Process.Start(CopalCli.StartInfo(environment, args))!;
        Stdout = process.StandardOutput.ReadToEndAsync();
        Stderr = process.StandardError.ReadToEndAsync();
    }

    public Task<string> Stdout { get; }

    public Task<string> Stderr { get; }

    public int Pid => process.Id;

    public bool HasExited => process.HasExited;

    /// <summary>Waits until the run's journal shows a stage start.</summary>
    public static void WaitForJournal(string runDir, string text, TimeSpan timeout)
    {
        var journal = Path.Combine(runDir, Runs.RunJournal.FileName);
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(journal) && File.ReadAllText(journal).Contains(text, StringComparison.Ordinal))
            {
                return;
            }

            Thread.Sleep(50);
        }

        throw new TimeoutException($"{journal} never showed {text}");
    }

    /// <summary>The node processes this coordinator started (its `dotnet copal-node.dll` children).</summary>
    public IReadOnlyList<int> NodePids() =>
        Directory.GetDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : -1)
            .Where(pid => pid > 0 && ParentOf(pid) == process.Id && CommandLine(pid).Contains("copal-node.dll", StringComparison.Ordinal))
            .Order()
            .ToList();

    public static void Kill(int pid)
    {
        try
        {
            Process.GetProcessById(pid).Kill();
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
    }

    /// <summary>Waits until none of <paramref name="pids"/> is running; false on timeout.</summary>
    public static bool WaitUntilGone(IReadOnlyList<int> pids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (pids.Any(pid => Directory.Exists($"/proc/{pid}") && !IsZombie(pid)))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            Thread.Sleep(100);
        }

        return true;
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("copal did not finish in " + timeout);
        }

        return process.ExitCode;
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        process.Dispose();
    }

    /// <summary>The TCP ports <paramref name="pid"/> listens on (its sockets in /proc/net/tcp and tcp6 in state LISTEN).</summary>
    public static IReadOnlyList<int> ListeningPorts(int pid)
    {
        var inodes = new HashSet<string>();
        foreach (var fd in Directory.EnumerateFiles($"/proc/{pid}/fd"))
        {
            if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal))
            {
                inodes.Add(target["socket:[".Length..^1]);
            }
        }

        // Columns: sl, local address (hex ip:port), remote address, state (0A: LISTEN), ..., inode (9th).
        return new[] { "/proc/net/tcp", "/proc/net/tcp6" }
            .SelectMany(File.ReadLines)
            .Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length > 9 && f[3] == "0A" && inodes.Contains(f[9]))
            .Select(f => Convert.ToInt32(f[1][(f[1].LastIndexOf(':') + 1)..], 16))
            .Distinct()
            .ToList();
    }

    private static int ParentOf(int pid) => StatField(pid, 1) is { } parent ? int.Parse(parent) : -1;

    /// <summary>Exited but not yet reaped by its parent.</summary>
    private static bool IsZombie(int pid) => StatField(pid, 0) is "Z" or "X";

    /// <summary>A field of /proc/PID/stat after the command name (0: state, 1: parent pid); null when the process is gone.</summary>
    private static string? StatField(int pid, int index)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[index];
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }
}
