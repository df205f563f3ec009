using TorchSharp;

namespace Copal.Model;

/// <summary>The safetensors dtypes a LLaMA checkpoint may hold, with their torch and byte sizes.</summary>
public enum StorageType
{
    F32,
    F16,
    BF16,

    /// <summary>Bytes: the bit-packed keep-masks of a stage stored as masks (<see cref="KeepMask"/>), never weights.</summary>
    U8,
}

public static class StorageTypes
{
    public static bool TryParse(string text, out StorageType type)
    {
        switch (text)
        {
            case "F32": type = StorageType.F32; return true;
            case "F16": type = StorageType.F16; return true;
            case "BF16": type = StorageType.BF16; return true;
            case "U8": type = StorageType.U8; return true;
            default: type = default; return false;
        }
    }

    public static string Name(this StorageType type) => type.ToString();

    public static int ByteSize(this StorageType type) => type switch
    {
        StorageType.F32 => 4,
        StorageType.U8 => 1,
        _ => 2,
    };

    public static torch.ScalarType ToScalarType(this StorageType type) => type switch
    {
        StorageType.F32 => torch.ScalarType.Float32,
        StorageType.F16 => torch.ScalarType.Float16,
        StorageType.U8 => torch.ScalarType.Byte,
        _ => torch.ScalarType.BFloat16,
    };
}
