namespace Copal.Tests;

/// <summary>Locates files shipped in the repository, independent of the test's working directory.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string TinyModel => Path.Combine(Root, "data", "models", "tiny-mix");

    public static string TinyL3Model => Path.Combine(Root, "data", "models", "tiny-l3");

    public static string Corpora => Path.Combine(Root, "data", "corpora");

    public static string Golden(string name) => Path.Combine(Root, "tests", "assets", "golden", name);

    public static string Llama2Tokenizer => Path.Combine(Root, "tests", "assets", "llama2", "tokenizer.model");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Copal.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Copal.sln not found above " + AppContext.BaseDirectory);
    }
}
