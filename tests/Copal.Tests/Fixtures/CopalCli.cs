using System.Diagnostics;

namespace Copal.Tests;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs the real `copal` and `copal-node` executables (built next to the tests) as child processes.</summary>
public static class CopalCli
{
    public static CliResult Run(params string[] args) => Run(TimeSpan.FromMinutes(10), args);

    public static CliResult Run(TimeSpan timeout, params string[] args) => Run(timeout, new Dictionary<string, string>(), args);

    /// <summary>Runs copal with <paramref name="environment"/> added to this process's.</summary>
    public static CliResult Run(TimeSpan timeout, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Wait(StartInfo(environment, args), timeout);

    /// <summary>Runs copal-node with <paramref name="environment"/> added to this process's.</summary>
    public static CliResult RunNode(TimeSpan timeout, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Wait(StartInfo("copal-node.dll", environment, args), timeout);

    /// <summary>How to start `copal` with <paramref name="args"/>, its output redirected.</summary>
    public static ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string> environment, IEnumerable<string> args) =>
        StartInfo("copal.dll", environment, args);

    private static CliResult Wait(ProcessStartInfo start, TimeSpan timeout)
    {
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException(string.Join(' ', start.ArgumentList) + " did not finish in " + timeout);
        }

        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    private static ProcessStartInfo StartInfo(string dll, IReadOnlyDictionary<string, string> environment, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        return start;
    }
}
