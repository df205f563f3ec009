namespace Copal.Coordinator.Cli.Hosting;

/// <summary>The small model and corpora shipped with Copal: the defaults of every command.</summary>
public static class Bundled
{
    public static string Model => Path.Combine(AppContext.BaseDirectory, "data", "models", "tiny-mix");

    /// <summary>The Llama-3-style model, with the real Llama-3.1 tokenizer.json.</summary>
    public static string Llama3Model => Path.Combine(AppContext.BaseDirectory, "data", "models", "tiny-l3");

    public static string Data => Path.Combine(AppContext.BaseDirectory, "data", "corpora");

    public static readonly string[] EvalDatasets = ["fiction", "science", "speech", "news"];

    public static readonly string[] PruneDatasets = ["fiction", "science", "speech"];
}
