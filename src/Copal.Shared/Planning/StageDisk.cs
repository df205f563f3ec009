using Copal.Model;
using Copal.Pruning;
using Copal.Pruning.Metrics;

namespace Copal.Planning;

/// <summary>
/// The disk one stage takes, by storage mode. Full: every weight at the checkpoint's dtype.
/// Masks: one bit per linear weight (a byte per eight), nothing of what pruning leaves as it was;
/// not for a method that changes the weights it keeps. Either way the stage's float32
/// accumulator comes on top, kept for the latest committed stage only unless asked otherwise.
/// </summary>
/// <param name="MaskBytes">Null when the method changes weights: its stages are stored in full.</param>
public sealed record StageDisk(long ModelBytes, long? MaskBytes, long AccumulatorBytes)
{
    public static StageDisk Of(LlamaConfig c, StorageType weightDType, PruningMethod method)
    {
        var layers = (long)c.NumHiddenLayers;
        var embeddings = (long)c.VocabSize * c.HiddenSize * (c.TieWordEmbeddings ? 1 : 2);
        var model = checked((layers * CostModel.LayerWeightBytes(c, weightDType)) + ((embeddings + c.HiddenSize) * weightDType.ByteSize()));
        var masks = LlamaLinear.All.Sum(l => (CostModel.LinearParams(c, l) + 7) / 8);
        return new StageDisk(
            model,
            Metrics.Describe(method).ChangesWeights ? null : checked(layers * masks),
            checked(layers * CostModel.LayerMethodStateBytes(c, method)));
    }

    public long FullBytes => checked(ModelBytes + AccumulatorBytes);

    public long? MasksBytes => MaskBytes is { } masks ? checked(masks + AccumulatorBytes) : null;
}
