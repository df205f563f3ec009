namespace Copal.Model;

/// <summary>One tensor's place in a safetensors file: offsets are relative to the data section.</summary>
public sealed record TensorEntry(string Name, StorageType DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
