namespace Copal.Fuzz;

/// <summary>An input the parser mishandled: thrown out of the harness so that AFL++ saves it as a crash.</summary>
public sealed class FuzzFindingException : Exception
{
    public FuzzFindingException(string message)
        : base(message)
    {
    }

    public FuzzFindingException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
