namespace Copal;

/// <summary>
/// A problem with what the user gave us (a file, a flag, a dataset). The command line prints
/// its message as the one-line reason and exits non-zero; nothing else should be shown.
/// </summary>
public sealed class CopalInputException : Exception
{
    public CopalInputException(string message)
        : base(message)
    {
    }

    public CopalInputException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
