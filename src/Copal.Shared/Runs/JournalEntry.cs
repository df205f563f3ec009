namespace Copal.Runs;

/// <summary>One line of the run journal.</summary>
/// <param name="Files">For a commit: file name to sha256 of every file of the stage directory (journals of older versions: its shard and accumulator files).</param>
/// <param name="Perplexity">For an evaluation: dataset to perplexity, in run order; a dataset whose test split was not found is left out.</param>
/// <param name="Bytes">For a commit: the bytes of the stage directory's files (journals of older versions: null).</param>
public sealed record JournalEntry(
    string Event,
    int Stage,
    string? Dataset = null,
    IReadOnlyDictionary<string, string>? Files = null,
    IReadOnlyList<Evaluation.PerplexityResult>? Perplexity = null,
    double Seconds = 0,
    DateTime? Time = null,
    long? Bytes = null)
{
    public const string DenseEvaluated = "dense-evaluated";
    public const string StageStarted = "stage-started";
    public const string StageCommitted = "stage-committed";
    public const string StageEvaluated = "stage-evaluated";
    public const string RunCompleted = "run-completed";

    /// <summary>A stage's accumulator files (<see cref="Files"/>) are deleted: the next stage is committed and carries the state on.</summary>
    public const string AccumulatorDropped = "accumulator-dropped";
}
