using Xunit;

namespace Copal.Tests;

/// <summary>
/// Paths a command cannot write a file to, for the options checked up front (--report,
/// --log-file): relative ones lie under a test folder that <see cref="Under"/> gives a folder
/// "folder" and a file "file"; each comes with what the refusal names.
/// </summary>
public static class UnwritablePaths
{
    public static TheoryData<string, string> Cases(string fileName) => new()
    {
        { "folder", "is a directory" },
        { $"missing/{fileName}", "does not exist" },
        { $"file/{fileName}", "does not exist" },

        // A folder that exists but where no one, root included, can create a file.
        { $"/proc/{fileName}", "cannot write in /proc" },
    };

    /// <summary>Lays out <paramref name="dir"/> for the cases and returns where <paramref name="path"/> points.</summary>
    public static string Under(TempDir dir, string path)
    {
        Directory.CreateDirectory(dir.File("folder"));
        File.WriteAllText(dir.File("file"), "not a folder");
        return Path.Combine(dir.Path, path);
    }
}
