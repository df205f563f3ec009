using Copal.Model;
using Copal.Planning;
using Copal.Pruning;
using static TorchSharp.torch;

namespace Copal.Coordinator.Cluster;

/// <summary>Builds every <see cref="PlanRequest"/>: `copal plan` shows the plan a cluster run of the same settings makes.</summary>
public static class PlanRequestFactory
{
    /// <param name="activations">The dtype activations stream in between nodes.</param>
    public static PlanRequest Create(PlannedModel model, PruningMethod method, Propagation propagation, int samples, int seqLen, int microBatch, int inFlight, ScalarType activations) => new()
    {
        Config = model.Config,
        ModelName = model.Name,
        WeightDType = model.WeightDType,
        Method = method,
        Propagation = propagation,
        Samples = samples,
        SeqLen = seqLen,
        MicroBatch = microBatch,
        InFlight = inFlight,
        ActivationBytes = activations == ScalarType.Float32 ? 4 : 2,
    };

    /// <summary>The plan of a run's stages: micro-batches of its batch size, activations in its compute dtype.</summary>
    public static PlanRequest ForRun(LlamaModel model, PruningSettings settings, ComputeOptions compute, int inFlight) =>
        Create(PlannedModel.Of(model), settings.Method, settings.Propagation, settings.Samples, settings.SeqLen, compute.BatchSize, inFlight, compute.DType);
}
