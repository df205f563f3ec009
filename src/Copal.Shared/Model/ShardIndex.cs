using System.Text.Json;

namespace Copal.Model;

/// <summary>Writes `model.safetensors.index.json`, mapping each tensor to the shard that holds it.</summary>
public static class ShardIndex
{
    public static void Write(string directory, IEnumerable<(string Tensor, string File)> weightMap, long totalSize)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("metadata");
            w.WriteNumber("total_size", totalSize);
            w.WriteEndObject();
            w.WriteStartObject("weight_map");
            foreach (var (tensor, file) in weightMap.OrderBy(x => x.Tensor, StringComparer.Ordinal))
            {
                w.WriteString(tensor, file);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        AtomicFile.WriteAllBytes(Path.Combine(directory, CheckpointReader.IndexFile), buffer.ToArray());
    }
}
