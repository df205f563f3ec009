using Copal.Model;

namespace Copal.Coordinator.Cluster;

/// <summary>The model a plan is made for: its name in messages, its config, and the dtype its weights are stored in.</summary>
public sealed record PlannedModel(string Name, LlamaConfig Config, StorageType WeightDType)
{
    /// <summary>A checkpoint, named after its folder; its layers' linears hold nearly all the weights a node loads, so their dtype counts.</summary>
    public static PlannedModel Of(LlamaModel model) => new(
        Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(model.Directory))),
        model.Config,
        model.Weights.Entry(TensorNames.Linear(0, LlamaLinear.Q)).DType);
}
