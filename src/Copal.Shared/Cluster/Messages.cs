using Akka.Actor;

namespace Copal.Cluster;

/// <summary>A node announces itself and its capacity to the coordinator (repeated until acknowledged).</summary>
public sealed record RegisterNode(string NodeId, string DataHost, int DataPort, long MemoryBytes, string Device);

public sealed record NodeRegistered(string NodeId);

/// <summary>
/// The coordinator gives a node its layer range for a run. Settings travel as JSON so the node
/// builds exactly the engine the coordinator would. Next is the data endpoint of the following
/// node, or null for the last one. Reports go to <paramref name="Reporter"/>.
/// </summary>
/// <param name="UpstreamKey">The key of the link into this node: its listener admits only the upstream that presents it.</param>
/// <param name="NextKey">The key this node presents to the next one; null for the last.</param>
public sealed record AssignShard(
    string RunId,
    long Epoch,
    int FirstLayer,
    int LastLayer,
    string ModelDirectory,
    string SettingsJson,
    string ComputeJson,
    string? NextHost,
    int NextPort,
    string UpstreamKey,
    string? NextKey,
    IActorRef Reporter);

public sealed record ShardReady(string NodeId, long Epoch);

/// <summary>The node cannot serve its assignment or failed while working; the run stops with this reason.</summary>
/// <param name="DownstreamBroke">The failure was the data path to the next node breaking: the next node is the suspect, not this one.</param>
/// <param name="DiskFull">The node's disk is full (ENOSPC): another attempt cannot help, the run stops.</param>
public sealed record NodeFailed(string NodeId, long Epoch, string Reason, bool DownstreamBroke = false, bool DiskFull = false);

/// <summary>The last node finished a calibration micro-batch (frees a slot of the in-flight window).</summary>
public sealed record MicroBatchDone(long Epoch, int Stage, long Sequence);

/// <summary>
/// A node wrote its part of a stage checkpoint; the report is a JSON ShardReport. Busy is time
/// spent computing since the stage began, idle the rest; bytes are activations sent on.
/// </summary>
public sealed record ShardDone(string NodeId, long Epoch, int Stage, string ReportJson, double BusySeconds, double IdleSeconds, long BytesForwarded);

/// <summary>The last node's NLL sum of one evaluation micro-batch.</summary>
public sealed record EvaluationDone(long Epoch, long Sequence, double NllSum);

/// <summary>The run is over: the node drops its engine and data connections.</summary>
public sealed record ReleaseShard(string RunId);
