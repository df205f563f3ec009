using System.Diagnostics;

namespace Copal.Tests;

/// <summary>Starts `copal` in the background and kills processes of its run with SIGKILL.</summary>
public sealed class ChaosHarness : IDisposable
{
    private readonly Process process;

    public ChaosHarness(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "copal.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        process = Process.Start(start)!;
        Stdout = process.StandardOutput.ReadToEndAsync();
        Stderr = process.StandardError.ReadToEndAsync();
    }

    public Task<string> Stdout { get; }

    public Task<string> Stderr { get; }

    public int Pid => process.Id;

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

    private static int ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1]);
        }
        catch (IOException)
        {
            return -1;
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
