using System.Text.Json;
using Copal.Stages;

namespace Copal.Pipeline;

/// <summary>
/// A command that travels in-band on the activation data path, so every node sees it in order
/// with the micro-batches around it (no race between a control message and the data it governs).
/// </summary>
public sealed record PipelineCommand(string Kind, StageAssignment? Assignment = null, string? Checkpoint = null)
{
    public const string BeginStage = "begin-stage";
    public const string BeginEvaluation = "begin-evaluation";
    public const string EndEvaluation = "end-evaluation";

    public string ToJson() => JsonSerializer.Serialize(this);

    public static PipelineCommand FromJson(string json) =>
        JsonSerializer.Deserialize<PipelineCommand>(json) ?? throw new InvalidDataException("empty pipeline command");
}
