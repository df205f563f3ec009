using System.Security.Cryptography;

namespace Copal.Model;

/// <summary>
/// The sha256 of every tensor's stored bytes in a checkpoint directory (weights and accumulator),
/// by name: two runs wrote the same bits however their tensors are spread over shard files.
/// </summary>
public static class TensorDigests
{
    public static Dictionary<string, string> Of(string checkpoint)
    {
        var digests = new Dictionary<string, string>();
        foreach (var path in Directory.GetFiles(checkpoint, "*.safetensors"))
        {
            using var file = SafetensorsFile.Open(path);
            foreach (var entry in file.Tensors)
            {
                using var stored = file.Read(entry.Name);
                digests[entry.Name] = Convert.ToHexString(SHA256.HashData(stored.bytes));
            }
        }

        return digests;
    }
}
