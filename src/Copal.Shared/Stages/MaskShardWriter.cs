using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Stages;

/// <summary>
/// Streams the keep-masks of a layer range's pruned linears into one safetensors shard: a U8
/// tensor per linear under the weight's name (<see cref="KeepMask"/>), against the source's stored
/// weights. Norms and biases are not written: a stage stored as masks reads them from its base.
/// </summary>
public sealed class MaskShardWriter : IShardWriter
{
    private readonly LlamaModel source;
    private readonly SafetensorsWriter writer;
    private readonly string fileName;

    public MaskShardWriter(string directory, string fileName, LlamaModel source, IEnumerable<int> layers)
    {
        this.source = source;
        this.fileName = fileName;
        var layout = layers.SelectMany(l => LlamaLinear.All.Select(linear => source.Weights.Entry(TensorNames.Linear(l, linear))))
            .Select(e => (e.Name, StorageType.U8, new[] { KeepMask.PackedLength(e.Shape.Aggregate(1L, (a, b) => a * b)) }))
            .ToList();
        writer = new SafetensorsWriter(Path.Combine(directory, fileName), layout);
    }

    public void WriteLayer(int layer, DecoderLayerWeights pruned)
    {
        foreach (var linear in LlamaLinear.All)
        {
            using var scope = NewDisposeScope();
            var name = TensorNames.Linear(layer, linear);
            var dtype = source.Weights.Entry(name).DType;
            var stored = TensorMemory.OnCpu(pruned[linear], dtype.ToScalarType());
            var dense = source.Weights.Read(name, dtype.ToScalarType());
            writer.Write(name, KeepMask.Pack(stored.bytes, dense.bytes, dtype.ByteSize(), $"{source.Directory}: '{name}'"));
        }
    }

    public ShardFile Commit() => ShardFile.Commit(writer, fileName);

    /// <summary>
    /// Refuses a compute dtype that does not hold the model's stored weights exactly (float32 holds
    /// them all): the kept weights would be written back changed, which no mask can hold.
    /// </summary>
    public static void CheckExact(LlamaModel model, ScalarType compute)
    {
        var stored = Enumerable.Range(0, model.Config.NumHiddenLayers)
            .SelectMany(l => LlamaLinear.All.Select(linear => model.Weights.Entry(TensorNames.Linear(l, linear)).DType))
            .Distinct();
        foreach (var dtype in stored)
        {
            if (compute != ScalarType.Float32 && compute != dtype.ToScalarType())
            {
                throw new CopalInputException($"--store masks: the weights are stored as {dtype.Name()}, which --dtype {compute.ToString().ToLowerInvariant()} does not hold exactly; use --dtype float32 or --store full");
            }
        }
    }

    public void Dispose() => writer.Dispose();
}
