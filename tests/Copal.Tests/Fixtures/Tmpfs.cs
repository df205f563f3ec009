using System.Diagnostics;

namespace Copal.Tests;

/// <summary>A small tmpfs mounted on a test's directory (a disk that fills up), unmounted on <see cref="Dispose"/>.</summary>
public sealed class Tmpfs : IDisposable
{
    private readonly string directory;

    private Tmpfs(string directory)
    {
        this.directory = directory;
    }

    /// <summary>Mounts <paramref name="megabytes"/> MiB on <paramref name="directory"/> (created); null with the reason where this process may not mount.</summary>
    public static Tmpfs? TryMount(string directory, int megabytes, out string reason)
    {
        Directory.CreateDirectory(directory);
        reason = Run("mount", "-t", "tmpfs", "-o", $"size={megabytes}M", "tmpfs", directory);
        return reason.Length == 0 ? new Tmpfs(directory) : null;
    }

    /// <summary>Gives the mounted file system another size, keeping its files (space freed, or taken away).</summary>
    public void Resize(int megabytes)
    {
        var error = Run("mount", "-o", $"remount,size={megabytes}M", directory);
        if (error.Length > 0)
        {
            throw new InvalidOperationException($"resizing the tmpfs on {directory}: {error}");
        }
    }

    public void Dispose()
    {
        // Lazily: a child process that still holds a file must not leave the mount behind.
        Run("umount", "--lazy", directory);
    }

    /// <summary>Runs a command; its error output (or exit code) when it fails, empty when it succeeds.</summary>
    private static string Run(string command, params string[] args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(command, args) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
            var error = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? string.Empty : $"`{command} {string.Join(' ', args)}` exited with {process.ExitCode}: {error.Result.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"{command}: {e.Message}";
        }
    }
}
