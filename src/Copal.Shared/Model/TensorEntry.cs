namespace Copal.Model;

/// <summary>One tensor's place in a safetensors file: offsets are relative to the data section.</summary>
public sealed record TensorEntry(string Name, StorageType DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;

    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
