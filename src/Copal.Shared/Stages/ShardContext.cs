using Copal.Model;
using Copal.Nn;
using Copal.Pruning;
using Copal.Pruning.Metrics;

namespace Copal.Stages;

/// <summary>What every layer of a shard needs to run its part of a stage.</summary>
public sealed record ShardContext(
    LlamaModel Model,
    LayerRange Range,
    PruningSettings Settings,
    IImportanceMetric Metric,
    ComputeOptions Compute,
    RotaryEmbedding Rope);
