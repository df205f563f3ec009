namespace Copal;

/// <summary>How both executables report bad input: every reason on one line of stderr, and exit code 2.</summary>
public static class InputError
{
    public const int ExitCode = 2;

    /// <summary>Writes "error: " and <paramref name="reasons"/> on one line; returns <see cref="ExitCode"/>.</summary>
    public static int Report(IEnumerable<string> reasons)
    {
        // All of them: a command-line parser's first error alone ("Required command was not provided") can hide the word that was wrong.
        Console.Error.WriteLine("error: " + string.Join(" ", reasons));
        return ExitCode;
    }
}
