using System.Diagnostics;

namespace Copal.Tests;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs the real `copal` executable (built next to the tests) as a child process.</summary>
public static class CopalCli
{
    public static CliResult Run(params string[] args) => Run(TimeSpan.FromMinutes(10), args);

    public static CliResult Run(TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "copal.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("copal " + string.Join(' ', args) + " did not finish in " + timeout);
        }

        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
