namespace Copal.Pipeline;

/// <summary>
/// The pipeline lost a part of itself (a node failed, vanished or went silent). The run can go
/// on by restarting the current stage on a new pipeline from the last committed state.
/// </summary>
public class PipelineFailedException(string message) : Exception(message);
