using Copal.Pruning;

namespace Copal.Coordinator.Cli.Bench;

/// <summary>One stage of the same run, timed in one process and on cluster nodes (report.json stages[].seconds).</summary>
public sealed record ClusterStageRequest(string ModelDirectory, string WorkDirectory, int Nodes, int Samples, int SeqLen, ComputeOptions Compute, int Threads, ImportancePrecision Precision, int Rounds);
