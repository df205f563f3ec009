using Copal.Model;
using Copal.Pruning;

namespace Copal.Stages;

/// <summary>Where one shard's part of a stage reads and writes.</summary>
/// <param name="Scored">The weights being pruned: the previous stage's (sequential), or null for the dense model.</param>
public sealed record StageIo(
    int Stage,
    CheckpointReader? Scored,
    ImportanceAccumulator Accumulator,
    IShardWriter Shard,
    SparsityReport Sparsity);
