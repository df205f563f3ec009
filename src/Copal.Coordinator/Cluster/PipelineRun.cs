namespace Copal.Coordinator.Cluster;

/// <summary>Which run a pipeline serves (nodes tag their log events with it) and its epoch: one per pipeline built, so late frames of an abandoned one are recognised.</summary>
public sealed record PipelineRun(string RunId, long Epoch);
