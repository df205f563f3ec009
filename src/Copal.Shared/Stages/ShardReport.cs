using Copal.Pruning;

namespace Copal.Stages;

/// <summary>What a shard wrote at the end of a stage: its files with digests, and the sparsity reached.</summary>
public sealed record ShardReport(int FirstLayer, int LastLayer, ShardFile Weights, ShardFile? Importance, IReadOnlyList<LinearSparsity> Sparsity);
