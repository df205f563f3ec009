using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>
/// Where decoder layers are read from: a stage checkpoint, or the model's own dense weights when
/// none is given. Everything that runs "a checkpoint's layers or the dense model" opens one.
/// </summary>
public sealed class LayerSource : IDisposable
{
    private readonly CheckpointReader? checkpoint;
    private readonly CheckpointReader weights;
    private readonly LlamaConfig config;

    private LayerSource(CheckpointReader? checkpoint, CheckpointReader weights, LlamaConfig config)
    {
        this.checkpoint = checkpoint;
        this.weights = weights;
        this.config = config;
    }

    /// <param name="checkpoint">A checkpoint directory, or null for the model's own layers.</param>
    public static LayerSource Open(LlamaModel model, string? checkpoint)
    {
        var reader = checkpoint is null ? null : CheckpointReader.Open(checkpoint);
        return new LayerSource(reader, reader ?? model.Weights, model.Config);
    }

    public DecoderLayerWeights Load(int layer, ScalarType dtype) => DecoderLayerWeights.Load(weights, config, layer, dtype);

    public void Dispose() => checkpoint?.Dispose();
}
