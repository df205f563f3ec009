using System.Buffers.Binary;
using System.Text.Json;

namespace Copal.Model;

/// <summary>
/// The JSON header of a safetensors file, parsed and checked against the file's length so that
/// a bad file fails here with its name and the offending tensor, never later inside torch.
/// </summary>
public sealed class SafetensorsHeader
{
    // Real headers are a few MB at most; anything larger is a corrupt length prefix.
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    private SafetensorsHeader(IReadOnlyList<TensorEntry> tensors, IReadOnlyDictionary<string, string> metadata, long dataStart)
    {
        Tensors = tensors;
        Metadata = metadata;
        DataStart = dataStart;
    }

    public IReadOnlyList<TensorEntry> Tensors { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Absolute file offset of the first data byte.</summary>
    public long DataStart { get; }

    public static SafetensorsHeader Read(string path, Stream stream)
    {
        var fileLength = stream.Length;
        if (fileLength < 8)
        {
            throw Bad(path, $"file is {fileLength} bytes, too short for a header");
        }

        Span<byte> prefix = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(prefix);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes || (long)headerLength > fileLength - 8)
        {
            throw Bad(path, $"header length {headerLength} is absurd for a file of {fileLength} bytes");
        }

        var json = new byte[headerLength];
        stream.ReadExactly(json);
        return Parse(path, json, fileLength - 8 - (long)headerLength, 8 + (long)headerLength);
    }

    private static SafetensorsHeader Parse(string path, byte[] json, long dataLength, long dataStart)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw Bad(path, "header is not valid JSON: " + e.Message);
        }

        using (doc)
        {
            try
            {
                return FromDocument(path, doc, dataLength, dataStart);
            }
            catch (InvalidOperationException e)
            {
                // JsonDocument checks the structure, not the UTF-8 of names and strings: reading one that is not throws this.
                throw Bad(path, "header is not valid JSON: " + e.Message);
            }
        }
    }

    private static SafetensorsHeader FromDocument(string path, JsonDocument doc, long dataLength, long dataStart)
    {
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw Bad(path, "header is not a JSON object");
        }

        var tensors = new List<TensorEntry>();
        var metadata = new Dictionary<string, string>();
        var names = new HashSet<string>();
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                if (property.Value.ValueKind != JsonValueKind.Object)
                {
                    throw Bad(path, "__metadata__ is not a JSON object");
                }

                foreach (var m in property.Value.EnumerateObject())
                {
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                }

                continue;
            }

            if (!names.Add(property.Name))
            {
                throw Bad(path, $"tensor '{property.Name}' appears twice in the header");
            }

            tensors.Add(ParseEntry(path, property.Name, property.Value, dataLength));
        }

        CheckOverlaps(path, tensors);
        return new SafetensorsHeader(tensors, metadata, dataStart);
    }

    private static TensorEntry ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        if (e.ValueKind != JsonValueKind.Object
            || !e.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String
            || !e.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array
            || !e.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
        {
            throw Bad(path, $"tensor '{name}' needs dtype, shape and two data_offsets");
        }

        var dtypeText = dtypeEl.GetString()!;
        if (!StorageTypes.TryParse(dtypeText, out var dtype))
        {
            throw Bad(path, $"tensor '{name}' has unsupported dtype {dtypeText} (F32, F16, BF16 and U8 are supported)");
        }

        var shape = new long[shapeEl.GetArrayLength()];
        var i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (!d.TryGetInt64(out var dim) || dim < 0)
            {
                throw Bad(path, $"tensor '{name}' has an invalid shape {shapeEl.GetRawText()}");
            }

            shape[i++] = dim;
        }

        if (!offEl[0].TryGetInt64(out var begin) || !offEl[1].TryGetInt64(out var end) || begin < 0 || end < begin)
        {
            throw Bad(path, $"tensor '{name}' has invalid data_offsets {offEl.GetRawText()}");
        }

        var entry = new TensorEntry(name, dtype, shape, begin, end);
        if (end > dataLength)
        {
            throw Bad(path, $"tensor '{name}' ends at byte {end} but the data section has {dataLength} bytes (truncated file?)");
        }

        // Exact arithmetic: a crafted shape must not wrap around to match the offsets.
        var expected = shape.Aggregate(new System.Numerics.BigInteger(dtype.ByteSize()), (a, b) => a * b);
        if (expected != entry.ByteLength)
        {
            throw Bad(path, $"tensor '{name}' has shape {entry.ShapeText} x {dtypeText} = {expected} bytes but its offsets span {entry.ByteLength}");
        }

        return entry;
    }

    private static void CheckOverlaps(string path, List<TensorEntry> tensors)
    {
        var byStart = tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.Begin).ToList();
        for (var i = 1; i < byStart.Count; i++)
        {
            if (byStart[i].Begin < byStart[i - 1].End)
            {
                throw Bad(path, $"tensors '{byStart[i - 1].Name}' and '{byStart[i].Name}' overlap");
            }
        }
    }

    private static CopalInputException Bad(string path, string what) => new($"{path}: {what}");
}
