using System.Text.Json.Serialization;

namespace Copal.Model;

/// <summary>
/// `masks.json`, what makes a directory a stage stored as masks: the base checkpoint it is read
/// against and, in the index's own format, which mask shard holds each linear's keep-mask
/// (<see cref="KeepMask"/>). Every other tensor is the base's, unchanged.
/// </summary>
public sealed record MaskedCheckpoint(BaseReference Base, [property: JsonPropertyName("weight_map")] IReadOnlyDictionary<string, string> WeightMap)
{
    public const string FileName = "masks.json";

    public void Write(string directory) => AtomicFile.WriteAllText(Path.Combine(directory, FileName), CopalJson.Serialize(this));

    public static MaskedCheckpoint Read(string path)
    {
        MaskedCheckpoint masks;
        try
        {
            masks = CopalJson.Deserialize<MaskedCheckpoint>(File.ReadAllText(path));
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
        {
            throw new CopalInputException($"{path}: not a masks file ({e.Message})");
        }

        // The serializer leaves a missing member null whatever its declared type.
        if (masks.Base?.Directory is null || masks.Base.Files is null || masks.WeightMap is null)
        {
            throw new CopalInputException($"{path}: not a masks file (Base.Directory, Base.Files and weight_map are needed)");
        }

        return masks;
    }

    /// <summary>Null unless <paramref name="directory"/> is stored as masks of a base that is missing or has changed.</summary>
    public static string? BaseProblem(string directory)
    {
        var path = Path.Combine(directory, FileName);
        return File.Exists(path) && Read(path) is var masks && masks.Base.Problem() is { } problem
            ? $"its base checkpoint {masks.Base.Directory}: {problem}"
            : null;
    }
}
