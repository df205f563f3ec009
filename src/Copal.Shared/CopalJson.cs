using System.Text.Json;
using System.Text.Json.Serialization;

namespace Copal;

/// <summary>JSON for settings and reports that cross process boundaries (enums by name, so logs read well).</summary>
public static class CopalJson
{
    private static readonly JsonSerializerOptions Options = new() { Converters = { new JsonStringEnumConverter() } };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new InvalidDataException($"empty {typeof(T).Name}");
}
